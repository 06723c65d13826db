/* host/io/png_write.h: internal PNG writer entry with the fsync choice (bulk writers sync once at the end). */
#ifndef FACECL_HOST_IO_PNG_WRITE_H
#define FACECL_HOST_IO_PNG_WRITE_H

#include "facecl/image.h"

/* fcl_image_write_png with `durable` 0 skipping the per-file fsync (the temp file + rename still
 * make each file appear whole). A caller writing thousands of files (the synthetic dataset)
 * syncs the file system once at the end instead: an fsync costs ~10 ms on common disks. */
fcl_status fcl_png_write(const char *path, const fcl_image *img, int durable, fcl_error *err);

#endif
