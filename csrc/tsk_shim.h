/*
 * tsk_shim.h: a small, plain-C view of The Sleuth Kit (libtsk 4.11, pkg-config "tsk") for
 * hashguard's hand-written Rust `extern "C"` declarations. Only opaque pointers, int,
 * int64_t/uint64_t, size_t, const char* and callbacks with a void* user pointer cross it.
 *
 * Conventions:
 *  - Every function that can fail takes (char *err, size_t errlen) and, on failure, writes a
 *    NUL-terminated message there (TSK's tsk_error_get() text, prefixed by what failed);
 *    err may be NULL / errlen 0. On success err is set to "" when given.
 *  - Byte offsets and lengths are in bytes, relative to the start of the image.
 *  - Returned `const char *` strings are static (TSK's name tables) or owned by the handle;
 *    they stay valid until the handle is closed.
 *  - TSK's error state is per thread; the shim has no state of its own. A handle must not be
 *    used by two threads at the same time (TSK's caches are not fully thread-safe).
 *  - Callbacks must not call back into the shim with the same handle.
 */
#ifndef HASHGUARD_TSK_SHIM_H
#define HASHGUARD_TSK_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hg_img hg_img; /* really TSK_IMG_INFO */
typedef struct hg_fs hg_fs;   /* really TSK_FS_INFO */

/* Opens a disk image from n path(s); the first segment of a split raw (x.000) or E01 set finds the rest. NULL on error. */
hg_img *hg_img_open(const char *const *paths, int n, char *err, size_t errlen);
/* Closes an image (NULL is ignored); close its file systems first. */
void hg_img_close(hg_img *img);
/* Size of the image's media in bytes (for E01: the acquired media size, not the file size). */
int64_t hg_img_size(hg_img *img);
/* Image format name from tsk_img_type_toname(): "raw" (also split raw), "ewf", "aff", "vmdk", "vhd", ... */
const char *hg_img_type(hg_img *img);
/* Reads up to len bytes at byte offset off; returns bytes read (short at the end), or -1 (see hg_last_error). */
int64_t hg_img_read(hg_img *img, int64_t off, char *buf, size_t len);
/* Copies this thread's current TSK error text into err ("" if none); for hg_img_read / hg_img_size failures. */
void hg_last_error(char *err, size_t errlen);

/* Partition flags passed to hg_part_cb (TSK_VS_PART_FLAG_*). */
#define HG_PART_ALLOC 1   /* a partition from the table */
#define HG_PART_UNALLOC 2 /* space no partition covers (gaps, before the first / after the last) */
#define HG_PART_META 4    /* the partition table itself, GPT header, protective MBR */
/* index = TSK's slot number (the "NNN:" column of mmls, counting meta and gap slots too). */
typedef void (*hg_part_cb)(void *ud, int index, int64_t start_bytes, int64_t len_bytes, int flags, const char *desc);
/* Calls cb for every volume-system slot (volume system at offset 0, type auto-detected); returns the number of slots, 0 if there is no volume system (vs_type_out ""), -1 on error (also for an ambiguous or encrypted volume system). vs_type_out gets e.g. "gpt", "dos", "mac", "bsd", "sun". */
int hg_partitions(hg_img *img, hg_part_cb cb, void *ud, char *vs_type_out, size_t vs_type_len, char *err, size_t errlen);

/* Opens the file system starting at byte offset (type auto-detected); NULL if none is recognised or it is damaged (err says which). */
hg_fs *hg_fs_open(hg_img *img, int64_t offset_bytes, char *err, size_t errlen);
/* Closes a file system (NULL is ignored). */
void hg_fs_close(hg_fs *fs);
/* File system name from tsk_fs_type_toname(): "fat12", "fat16", "fat32", "exfat", "ntfs", "ext2/3/4", "iso9660", "hfs", ... */
const char *hg_fs_type(hg_fs *fs);
/* The file system's block (FAT: sector, not cluster) size in bytes. */
uint64_t hg_fs_block_size(hg_fs *fs);

/* hg_fs_files flags. */
#define HG_FILES_ORPHANS 1 /* also walk TSK's virtual "$OrphanFiles" directory (see tsk_shim.c) */
/* Per regular file: path = "/" + parent path + name (UTF-8 as TSK decoded it); inum = metadata address for hg_fs_read_file; deleted = the name or its metadata is unallocated; recoverable = TSK has metadata that still describes this file's content; size in bytes, -1 if unknown. Return nonzero to stop the walk. */
typedef int (*hg_file_cb)(void *ud, const char *path, uint64_t inum, int deleted, int recoverable, int64_t size);
/* Walks all directories recursively, allocated and deleted names, calling cb for each regular file (what is skipped: see tsk_shim.c); returns 0 done, 1 stopped by cb, -1 error. */
int hg_fs_files(hg_fs *fs, int flags, hg_file_cb cb, void *ud, char *err, size_t errlen);

/* Receives file content in order, in chunks of at most 1 MiB. Return nonzero to stop. */
typedef int (*hg_data_cb)(void *ud, const char *buf, size_t len);
/* Reads the content (NTFS: the unnamed $DATA stream) of the file with metadata address inum, at most max_bytes; *truncated = 1 if the file is longer than what was passed to cb (max_bytes or cb stopped); returns the bytes passed to cb, or -1 on error (cb may already have had part of the data). */
int64_t hg_fs_read_file(hg_fs *fs, uint64_t inum, uint64_t max_bytes, hg_data_cb cb, void *ud, int *truncated, char *err, size_t errlen);

/* Receives unallocated file-system blocks: img_offset is the byte offset of buf[0] in the IMAGE; adjacent blocks are merged into runs of at most 1 MiB, and a call whose img_offset equals the previous call's img_offset + len continues the same run. Return nonzero to stop. */
typedef int (*hg_block_cb)(void *ud, int64_t img_offset, const char *buf, size_t len);
/* Walks the file system's unallocated blocks (content and metadata areas) in address order; returns 0 done, 1 stopped by cb, -1 error. */
int hg_fs_unallocated(hg_fs *fs, hg_block_cb cb, void *ud, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* HASHGUARD_TSK_SHIM_H */
