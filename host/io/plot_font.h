/* host/io/plot_font.h: the plots' embedded 5 x 7 bitmap font (printable ASCII, with descenders). */
#ifndef FACECL_HOST_IO_PLOT_FONT_H
#define FACECL_HOST_IO_PLOT_FONT_H

#define FCL_FONT_COLS 5
#define FCL_FONT_ROWS 9     /* 7 above the baseline + 2 descender rows */
#define FCL_FONT_ASCENT 7   /* rows from the top of the cell to the baseline */

/* The FCL_FONT_ROWS row bytes of c (bit 4 = leftmost column); bytes outside printable ASCII
 * give '?'. */
const unsigned char *fcl_font_glyph(char c);

/* The columns c occupies for proportional spacing: its first inked column and its width
 * (digits: the whole cell; space: 3 blank columns). */
void fcl_font_columns(char c, int *first, int *width);

#endif
