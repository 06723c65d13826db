#!/usr/bin/env python3
"""tools/make_face_splits.py: train/val splits and verification pairs over the shared real faces (symlinks, stdlib only).

Reads ../shared/faces (or --faces DIR) and writes into OUT (a new or empty folder, e.g. under /tmp;
never inside the repository: the images are third-party data):

  OUT/orl73/train/sN/K.png, OUT/orl73/val/sN/K.png
      ORL closed-set split, 7 images per subject for training and 3 for validation. Default
      (--orl-split first): images 1..7 train, 8..10 val (the numbering of the ORL files); with
      --orl-split random: a seeded random 7/3 choice per subject.
  OUT/orl_pairs.txt
      ORL verification pairs over all 40 subjects, `path1 path2 label` (1 = same person), paths
      relative to the ORL root (use `--pairs-root <faces>/orl_att_faces`, or OUT/orl, a symlink
      to it, the default root of facecl when --pairs-root is OUT/orl). --same same-person pairs
      (all distinct unordered image pairs; ORL has 40 * C(10, 2) = 1800) and --diff
      different-person pairs (distinct too), seeded, shuffled together.
  OUT/orl -> <faces>/orl_att_faces   (so `--pairs-root OUT/orl` works)
  OUT/orl_ident/gallery/sN/K.png, OUT/orl_ident/probes/sN/K.png
      ORL open-set identification (`facecl identify --gallery ... --probes ...`): the first
      --ident-known subjects (default 30, in s1, s2, ... order) are enrolled with their first
      --ident-enrol images (default 3) in gallery/, their other images are probes; every image of
      the remaining subjects (default 10) is an impostor probe (a folder the gallery lacks).
  OUT/yale_all/<id>/<image>.png
      Extended Yale B, every image (training set for Yale B -> ORL verification).
  OUT/yale_light/train/<id>/..., OUT/yale_light/val/<id>/...
      Yale B closed-set split by lighting: the light's angle from the camera axis,
      acos(cos(azimuth) cos(elevation)) (azimuth A and elevation E from the file name
      yaleBnn_P00A+aaaE+ee.png), <= --yale-extreme degrees (default 77: the classic subsets 1-4)
      trains, larger angles (subset 5, the extreme side light) validate. Files whose name carries
      no angle (e.g. ambient images) go to train.
  OUT/README.txt    what was made, with the command line to remake it.

Every image entry is a symlink to the original file (absolute path), never a copy. The same
arguments give the same folders and pair list.

    python3 tools/make_face_splits.py /tmp/faces-splits
    python3 tools/make_face_splits.py --orl-split random --seed 3 --same 1500 --diff 1500 /tmp/fs
"""
import argparse
import math
import os
import random
import re
import sys

ORL = "orl_att_faces"
YALE = "extended_yaleb_cropped"
IMAGE_EXT = (".png", ".pgm", ".jpg", ".jpeg")
YALE_ANGLE = re.compile(r"_P\d+A([+-]\d+)E([+-]\d+)")


def images_of(folder):
    """Image file names of a folder, in a stable order (numeric when the stems are numbers)."""
    names = [n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXT)]

    def key(n):
        stem = os.path.splitext(n)[0]
        return (0, int(stem), n) if stem.isdigit() else (1, 0, n)

    return sorted(names, key=key)


def identities_of(root):
    def key(n):
        m = re.match(r"^(\D*)(\d+)$", n)
        return (m.group(1), int(m.group(2)), n) if m else (n, 0, n)

    return sorted((n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n))), key=key)


def link(src, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.symlink(os.path.abspath(src), dst)


def orl_split(faces, out, mode, seed):
    root = os.path.join(faces, ORL)
    rng = random.Random(seed)
    counts = [0, 0]
    for ident in identities_of(root):
        names = images_of(os.path.join(root, ident))
        if len(names) < 4:
            sys.exit(f"make_face_splits: {root}/{ident} has {len(names)} images; the 7/3 split needs 10")
        n_val = 3 if len(names) == 10 else max(1, round(0.3 * len(names)))
        if mode == "random":
            val = set(rng.sample(names, n_val))
        else:
            val = set(names[-n_val:])
        for n in names:
            part = "val" if n in val else "train"
            link(os.path.join(root, ident, n), os.path.join(out, "orl73", part, ident, n))
            counts[part == "val"] += 1
    return counts


def orl_pairs(faces, out, n_same, n_diff, seed):
    root = os.path.join(faces, ORL)
    rng = random.Random(seed)
    ids = identities_of(root)
    imgs = {i: [f"{i}/{n}" for n in images_of(os.path.join(root, i))] for i in ids}
    same_all = [(a, b) for i in ids for k, a in enumerate(imgs[i]) for b in imgs[i][k + 1:]]
    if n_same > len(same_all):
        sys.exit(f"make_face_splits: --same {n_same} exceeds the {len(same_all)} distinct same-person pairs")
    same = rng.sample(same_all, n_same)
    n_img = sum(len(v) for v in imgs.values())
    n_diff_all = (n_img * n_img - sum(len(v) ** 2 for v in imgs.values())) // 2
    if n_diff > n_diff_all:
        sys.exit(f"make_face_splits: --diff {n_diff} exceeds the {n_diff_all} distinct different-person pairs")
    diff, seen = [], set()
    while len(diff) < n_diff:
        i, j = rng.sample(ids, 2)
        a, b = rng.choice(imgs[i]), rng.choice(imgs[j])
        key = (a, b) if a < b else (b, a)
        if key in seen:
            continue
        seen.add(key)
        diff.append((a, b))
    pairs = [(a, b, 1) for a, b in same] + [(a, b, 0) for a, b in diff]
    rng.shuffle(pairs)
    path = os.path.join(out, "orl_pairs.txt")
    with open(path, "w") as f:
        f.write(f"# ORL verification pairs: {n_same} same + {n_diff} different, seed {seed}; "
                f"paths relative to {root}\n")
        for a, b, y in pairs:
            f.write(f"{a} {b} {y}\n")
    os.symlink(os.path.abspath(root), os.path.join(out, "orl"))
    return len(pairs)


def orl_ident(faces, out, known, enrol):
    root = os.path.join(faces, ORL)
    ids = identities_of(root)
    if not 1 <= known < len(ids):
        sys.exit(f"make_face_splits: --ident-known {known} must leave impostors among ORL's {len(ids)} subjects")
    counts = {"gallery": 0, "genuine": 0, "impostor": 0}
    for k, ident in enumerate(ids):
        names = images_of(os.path.join(root, ident))
        if k < known and len(names) <= enrol:
            sys.exit(f"make_face_splits: {root}/{ident} has {len(names)} images; --ident-enrol {enrol} leaves no probe")
        for j, n in enumerate(names):
            part = "gallery" if k < known and j < enrol else "probes"
            link(os.path.join(root, ident, n), os.path.join(out, "orl_ident", part, ident, n))
            counts["gallery" if part == "gallery" else "genuine" if k < known else "impostor"] += 1
    return counts


def light_angle(name):
    m = YALE_ANGLE.search(name)
    if not m:
        return None
    a, e = math.radians(int(m.group(1))), math.radians(int(m.group(2)))
    return math.degrees(math.acos(max(-1.0, min(1.0, math.cos(a) * math.cos(e)))))


def yale(faces, out, extreme):
    root = os.path.join(faces, YALE)
    counts = {"all": 0, "train": 0, "val": 0}
    for ident in identities_of(root):
        for n in images_of(os.path.join(root, ident)):
            src = os.path.join(root, ident, n)
            link(src, os.path.join(out, "yale_all", ident, n))
            ang = light_angle(n)
            part = "val" if ang is not None and ang > extreme else "train"
            link(src, os.path.join(out, "yale_light", part, ident, n))
            counts["all"] += 1
            counts[part] += 1
    return counts


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="output folder (new or empty; put it under /tmp)")
    ap.add_argument("--faces", default=os.path.join(here, "..", "..", "shared", "faces"),
                    help="the shared faces folder (default ../shared/faces next to the repository)")
    ap.add_argument("--orl-split", choices=("first", "random"), default="first",
                    help="first: images 1-7 train, 8-10 val; random: seeded 7/3 per subject")
    ap.add_argument("--same", type=int, default=1500, help="same-person ORL pairs (default 1500)")
    ap.add_argument("--diff", type=int, default=1500, help="different-person ORL pairs (default 1500)")
    ap.add_argument("--yale-extreme", type=float, default=77.0,
                    help="Yale B light angle (degrees) above which an image goes to val (default 77)")
    ap.add_argument("--ident-known", type=int, default=30,
                    help="ORL subjects enrolled in orl_ident/gallery (default 30; the rest are impostors)")
    ap.add_argument("--ident-enrol", type=int, default=3, help="gallery images per enrolled subject (default 3)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    faces = os.path.abspath(a.faces)
    for d in (ORL, YALE):
        if not os.path.isdir(os.path.join(faces, d)):
            sys.exit(f"make_face_splits: {os.path.join(faces, d)} not found (pass --faces)")
    repo = os.path.abspath(os.path.join(here, ".."))
    out = os.path.abspath(a.out)
    if out == repo or out.startswith(repo + os.sep):
        sys.exit("make_face_splits: write the splits outside the repository (e.g. /tmp/faces-splits)")
    if os.path.exists(out) and os.listdir(out):
        sys.exit(f"make_face_splits: {out} is not empty")
    os.makedirs(out, exist_ok=True)
    orl_counts = orl_split(faces, out, a.orl_split, a.seed)
    n_pairs = orl_pairs(faces, out, a.same, a.diff, a.seed)
    ic = orl_ident(faces, out, a.ident_known, a.ident_enrol)
    yc = yale(faces, out, a.yale_extreme)
    with open(os.path.join(out, "README.txt"), "w") as f:
        f.write("Made by tools/make_face_splits.py (symlinks to " + faces + "):\n"
                f"  python3 tools/make_face_splits.py --orl-split {a.orl_split} --same {a.same} "
                f"--diff {a.diff} --yale-extreme {a.yale_extreme:g} --ident-known {a.ident_known} "
                f"--ident-enrol {a.ident_enrol} --seed {a.seed} {out}\n"
                f"orl73/: ORL 7/3 ({a.orl_split}): {orl_counts[0]} train, {orl_counts[1]} val images\n"
                f"orl_pairs.txt: {n_pairs} pairs ({a.same} same, {a.diff} different) over 40 ORL "
                "subjects, relative to orl/ (--pairs-root OUT/orl)\n"
                f"orl_ident/: gallery {ic['gallery']} images of {a.ident_known} subjects; probes "
                f"{ic['genuine']} of them + {ic['impostor']} impostor images\n"
                f"yale_all/: {yc['all']} Yale B images; yale_light/: {yc['train']} train "
                f"(light angle <= {a.yale_extreme:g} deg), {yc['val']} val\n")
    print(open(os.path.join(out, "README.txt")).read(), end="")


if __name__ == "__main__":
    main()
