/*
 * tsk_shim.c: see tsk_shim.h. Built by build.rs with the `cc` crate, linked against libtsk
 * (pkg-config "tsk", The Sleuth Kit 4.11 C API).
 *
 * What hg_fs_files reports, and what it leaves out on purpose:
 *  - Only regular files: metadata type REG, or, when TSK has no metadata for a (deleted) name,
 *    name type REG. Directories, links, devices are not reported ("." and ".." are never
 *    reported; TSK still recurses into every directory, deleted ones included).
 *  - Names TSK invents, which are not in the file system: name or metadata type VIRT/VIRT_DIR
 *    ($MBR, $FAT1, $FAT2 on FAT/exFAT: views of the boot sector and allocation tables; the
 *    "$OrphanFiles" directory everywhere).
 *  - TSK's "$OrphanFiles" directory (metadata entries that no name points to: on NTFS, deleted
 *    MFT entries whose name is gone; on FAT/ext, deleted inodes/entries found by an inode scan).
 *    Skipped unless HG_FILES_ORPHANS is given, because finding them makes TSK scan every
 *    metadata entry of the file system (slow on big volumes); with the flag they are reported
 *    as "/$OrphanFiles/<name>" with deleted=1. NTFS's reserved MFT entries 16..23, which TSK
 *    always lists there as empty "OrphanFile-16" etc., are skipped even then.
 *  - FAT and exFAT volume label entries: TSK shows them as empty regular files named
 *    "<LABEL> (Volume Label Entry)"; skipped when the size is 0.
 *    Not skipped: exFAT's "$ALLOC_BITMAP" and "$UPCASE_TABLE", which TSK lists as regular files
 *    in the root directory. They are real directory entries, but TSK gives them nothing that
 *    tells them apart from a user file with the same name, and they are small (one bit per
 *    cluster; 5.8 KB), so they are reported rather than risk hiding a file.
 *  - NTFS metadata files: MFT entries 0..15 ($MFT, $MFTMirr, $LogFile, $Volume, $AttrDef,
 *    $Bitmap, $Boot, $BadClus, $Secure, $UpCase, ...) and everything under "/$Extend/"
 *    ($ObjId, $Quota, $Reparse, $UsnJrnl, $RmMetadata/...). A user cannot create another root
 *    entry named "$Extend", so the path test cannot hide user files.
 *  - HFS+ special files (catalog node IDs below 16: $ExtentsFile, $CatalogFile, ...;
 *    untested: no HFS+ image could be made without root here).
 *  - NTFS alternate data streams: TSK's directory walk yields one entry per name, and
 *    hg_fs_read_file reads the default (unnamed) $DATA attribute only; named streams
 *    ("file:stream", which fls lists separately) are not reported for now.
 *
 * Deleted names (TSK_FS_DIR_WALK_FLAG_UNALLOC):
 *  - FAT: a deleted 8.3 entry's first byte is 0xE5, so TSK shows "gone.txt" as "_one.txt";
 *    when the long-name entries survive, TSK shows the full long name. TSK's metadata address
 *    for FAT is the directory entry's position. FAT keeps no cluster chain for a deleted file,
 *    so TSK rebuilds the content from the start cluster on as if it were contiguous; if the
 *    clusters were reused, other or partial content comes back.
 *  - exFAT keeps the whole name in a deleted entry set ("deleted-x.jpg" stays as it was).
 *  - A deleted name whose metadata entry is allocated again (TSK's "(realloc)") describes some
 *    other live file now: reported with deleted=1, recoverable=0.
 *  - A deleted name or entry whose size is 0 (the Linux ext4 driver zeroes an inode's size and
 *    extent tree when it deletes the file) is reported with recoverable=0.
 */
#include "tsk_shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsk/libtsk.h>

#define HG_CHUNK (1u << 20) /* read / run size: 1 MiB */
#define HG_ORPHAN_DIR "$OrphanFiles/"
#define HG_FAT_LABEL_SUFFIX "(Volume Label Entry)"

static TSK_IMG_INFO *as_img(hg_img *img) { return (TSK_IMG_INFO *)img; }
static TSK_FS_INFO *as_fs(hg_fs *fs) { return (TSK_FS_INFO *)fs; }

static void clear_err(char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
}

/* err = "<what>: <TSK error text>" (or just <what>), trailing newlines removed. */
static void set_err(char *err, size_t errlen, const char *what)
{
    const char *t;
    size_t n;

    if (!err || !errlen)
        return;
    t = tsk_error_get();
    if (t && *t)
        snprintf(err, errlen, "%s: %s", what, t);
    else
        snprintf(err, errlen, "%s", what);
    n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == '\r' || err[n - 1] == ' '))
        err[--n] = '\0';
}

static void copy_str(char *dst, size_t len, const char *src)
{
    if (dst && len)
        snprintf(dst, len, "%s", src ? src : "");
}

hg_img *hg_img_open(const char *const *paths, int n, char *err, size_t errlen)
{
    TSK_IMG_INFO *img;

    clear_err(err, errlen);
    tsk_error_reset();
    if (!paths || n < 1) {
        copy_str(err, errlen, "hg_img_open: no image path");
        return NULL;
    }
    img = tsk_img_open_utf8(n, paths, TSK_IMG_TYPE_DETECT, 0);
    if (!img) {
        set_err(err, errlen, "cannot open image");
        return NULL;
    }
    return (hg_img *)img;
}

void hg_img_close(hg_img *img)
{
    if (img)
        tsk_img_close(as_img(img));
}

int64_t hg_img_size(hg_img *img)
{
    return img ? (int64_t)as_img(img)->size : -1;
}

const char *hg_img_type(hg_img *img)
{
    const char *name = img ? tsk_img_type_toname(as_img(img)->itype) : NULL;
    return name ? name : "unknown";
}

int64_t hg_img_read(hg_img *img, int64_t off, char *buf, size_t len)
{
    tsk_error_reset();
    if (!img || off < 0 || !buf)
        return -1;
    if (len == 0 || off >= (int64_t)as_img(img)->size)
        return 0;
    return (int64_t)tsk_img_read(as_img(img), (TSK_OFF_T)off, buf, len);
}

void hg_last_error(char *err, size_t errlen)
{
    const char *t = tsk_error_get();
    copy_str(err, errlen, t);
}

int hg_partitions(hg_img *img, hg_part_cb cb, void *ud, char *vs_type_out, size_t vs_type_len,
    char *err, size_t errlen)
{
    TSK_VS_INFO *vs;
    TSK_PNUM_T i;
    int count;

    clear_err(err, errlen);
    copy_str(vs_type_out, vs_type_len, "");
    tsk_error_reset();
    if (!img) {
        copy_str(err, errlen, "hg_partitions: no image");
        return -1;
    }
    vs = tsk_vs_open(as_img(img), 0, TSK_VS_TYPE_DETECT);
    if (!vs) {
        /* No table found: TSK 4.11 returns NULL with no error set at all (errno 0; other
         * versions: TSK_ERR_VS_UNKTYPE without detail). Conflicting tables ("GPT or DOS at 0",
         * reported with a detail string) and encryption signatures (TSK_ERR_VS_ENCRYPTED, e.g.
         * BitLocker) are errors here. */
        uint32_t code = tsk_error_get_errno();
        const char *detail = tsk_error_get_errstr();
        if (code == 0 || (code == TSK_ERR_VS_UNKTYPE && (!detail || !*detail))) {
            tsk_error_reset();
            return 0;
        }
        set_err(err, errlen, "cannot read volume system");
        return -1;
    }
    copy_str(vs_type_out, vs_type_len, tsk_vs_type_toname(vs->vstype));
    count = 0;
    for (i = 0; i < vs->part_count; i++) {
        const TSK_VS_PART_INFO *part = tsk_vs_part_get(vs, i);
        if (!part)
            continue;
        if (cb)
            cb(ud, (int)part->addr,
                (int64_t)(vs->offset + (TSK_OFF_T)part->start * vs->block_size),
                (int64_t)((TSK_OFF_T)part->len * vs->block_size),
                (int)(part->flags & (TSK_VS_PART_FLAG_ALLOC | TSK_VS_PART_FLAG_UNALLOC | TSK_VS_PART_FLAG_META)),
                part->desc ? part->desc : "");
        count++;
    }
    tsk_vs_close(vs);
    return count;
}

hg_fs *hg_fs_open(hg_img *img, int64_t offset_bytes, char *err, size_t errlen)
{
    TSK_FS_INFO *fs;

    clear_err(err, errlen);
    tsk_error_reset();
    if (!img || offset_bytes < 0) {
        copy_str(err, errlen, "hg_fs_open: bad arguments");
        return NULL;
    }
    fs = tsk_fs_open_img(as_img(img), (TSK_OFF_T)offset_bytes, TSK_FS_TYPE_DETECT);
    if (!fs) {
        set_err(err, errlen, "no file system recognised");
        return NULL;
    }
    return (hg_fs *)fs;
}

void hg_fs_close(hg_fs *fs)
{
    if (fs)
        tsk_fs_close(as_fs(fs));
}

const char *hg_fs_type(hg_fs *fs)
{
    const char *name = fs ? tsk_fs_type_toname(as_fs(fs)->ftype) : NULL;
    return name ? name : "unknown";
}

uint64_t hg_fs_block_size(hg_fs *fs)
{
    return fs ? (uint64_t)as_fs(fs)->block_size : 0;
}

/* ---- directory walk ---------------------------------------------------------------------- */

struct files_walk {
    TSK_FS_INFO *fs;
    hg_file_cb cb;
    void *ud;
    int stopped;
    int oom;
    char *path; /* "/" + parent + name, grown as needed */
    size_t cap;
};

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

/* 1 if this entry is something TSK or the file system made up rather than a user file. */
static int skip_entry(const TSK_FS_INFO *fs, const TSK_FS_FILE *f, const char *parent)
{
    const TSK_FS_NAME *name = f->name;
    const TSK_FS_META *meta = f->meta;

    if (TSK_FS_ISDOT(name->name))
        return 1;
    if (name->type == TSK_FS_NAME_TYPE_VIRT || name->type == TSK_FS_NAME_TYPE_VIRT_DIR)
        return 1;
    if (meta) {
        if (meta->type != TSK_FS_META_TYPE_REG)
            return 1; /* also TSK_FS_META_TYPE_VIRT / VIRT_DIR */
    } else if (name->type != TSK_FS_NAME_TYPE_REG) {
        return 1;
    }
    if (TSK_FS_TYPE_ISNTFS(fs->ftype)) {
        if (name->meta_addr < 16)
            return 1;
        if (name->meta_addr < 24 && strncmp(parent, HG_ORPHAN_DIR, strlen(HG_ORPHAN_DIR)) == 0)
            return 1;
        if (strncmp(parent, "$Extend/", 8) == 0)
            return 1;
    } else if (TSK_FS_TYPE_ISFAT(fs->ftype)) {
        if ((!meta || meta->size == 0) && ends_with(name->name, HG_FAT_LABEL_SUFFIX))
            return 1;
    } else if (TSK_FS_TYPE_ISHFS(fs->ftype)) {
        if (name->meta_addr < 16)
            return 1;
    }
    return 0;
}

static TSK_WALK_RET_ENUM files_cb(TSK_FS_FILE *f, const char *parent, void *ptr)
{
    struct files_walk *w = (struct files_walk *)ptr;
    const TSK_FS_META *meta;
    size_t need;
    int deleted, recoverable, reused;
    int64_t size;

    if (!f || !f->name || !f->name->name)
        return TSK_WALK_CONT;
    if (!parent)
        parent = "";
    if (skip_entry(w->fs, f, parent))
        return TSK_WALK_CONT;
    meta = f->meta;

    need = 1 + strlen(parent) + strlen(f->name->name) + 1;
    if (need > w->cap) {
        size_t cap = need < 256 ? 256 : need * 2;
        char *p = (char *)realloc(w->path, cap);
        if (!p) {
            w->oom = 1;
            return TSK_WALK_ERROR;
        }
        w->path = p;
        w->cap = cap;
    }
    snprintf(w->path, w->cap, "/%s%s", parent, f->name->name);

    deleted = (f->name->flags & TSK_FS_NAME_FLAG_UNALLOC) != 0
        || (meta && (meta->flags & TSK_FS_META_FLAG_UNALLOC) != 0);
    reused = (f->name->flags & TSK_FS_NAME_FLAG_UNALLOC) && meta
        && (meta->flags & TSK_FS_META_FLAG_ALLOC);
    size = meta ? (int64_t)meta->size : -1;
    recoverable = meta != NULL && !reused && !(deleted && size <= 0);

    if (w->cb(w->ud, w->path, (uint64_t)f->name->meta_addr, deleted, recoverable, size)) {
        w->stopped = 1;
        return TSK_WALK_STOP;
    }
    return TSK_WALK_CONT;
}

int hg_fs_files(hg_fs *fs, int flags, hg_file_cb cb, void *ud, char *err, size_t errlen)
{
    struct files_walk w;
    int walk_flags = TSK_FS_DIR_WALK_FLAG_ALLOC | TSK_FS_DIR_WALK_FLAG_UNALLOC | TSK_FS_DIR_WALK_FLAG_RECURSE;
    uint8_t failed;

    clear_err(err, errlen);
    tsk_error_reset();
    if (!fs || !cb) {
        copy_str(err, errlen, "hg_fs_files: bad arguments");
        return -1;
    }
    if (!(flags & HG_FILES_ORPHANS))
        walk_flags |= TSK_FS_DIR_WALK_FLAG_NOORPHAN;
    memset(&w, 0, sizeof w);
    w.fs = as_fs(fs);
    w.cb = cb;
    w.ud = ud;
    failed = tsk_fs_dir_walk(w.fs, w.fs->root_inum, (TSK_FS_DIR_WALK_FLAG_ENUM)walk_flags, files_cb, &w);
    free(w.path);
    if (w.oom) {
        copy_str(err, errlen, "hg_fs_files: out of memory");
        return -1;
    }
    if (failed) {
        set_err(err, errlen, "directory walk failed");
        return -1;
    }
    return w.stopped ? 1 : 0;
}

/* ---- file content ------------------------------------------------------------------------ */

int64_t hg_fs_read_file(hg_fs *fs, uint64_t inum, uint64_t max_bytes, hg_data_cb cb, void *ud,
    int *truncated, char *err, size_t errlen)
{
    TSK_FS_FILE *file;
    const TSK_FS_ATTR *attr;
    char *buf;
    uint64_t size, want, done = 0;
    int64_t result;

    clear_err(err, errlen);
    if (truncated)
        *truncated = 0;
    tsk_error_reset();
    if (!fs || !cb) {
        copy_str(err, errlen, "hg_fs_read_file: bad arguments");
        return -1;
    }
    file = tsk_fs_file_open_meta(as_fs(fs), NULL, (TSK_INUM_T)inum);
    if (!file) {
        set_err(err, errlen, "cannot open file metadata");
        return -1;
    }
    if (!file->meta) {
        copy_str(err, errlen, "file has no metadata");
        tsk_fs_file_close(file);
        return -1;
    }
    /* The default attribute is what tsk_fs_file_read reads (NTFS: unnamed $DATA). An empty file
     * may have none. */
    attr = tsk_fs_file_attr_get(file);
    if (!attr) {
        if (file->meta->size == 0) {
            tsk_error_reset();
            tsk_fs_file_close(file);
            return 0;
        }
        set_err(err, errlen, "file has no content attribute");
        tsk_fs_file_close(file);
        return -1;
    }
    size = attr->size > 0 ? (uint64_t)attr->size : 0;
    want = size < max_bytes ? size : max_bytes;
    buf = (char *)malloc(HG_CHUNK);
    if (!buf) {
        copy_str(err, errlen, "hg_fs_read_file: out of memory");
        tsk_fs_file_close(file);
        return -1;
    }
    result = 0;
    while (done < want) {
        size_t len = (want - done) < HG_CHUNK ? (size_t)(want - done) : HG_CHUNK;
        ssize_t n = tsk_fs_file_read(file, (TSK_OFF_T)done, buf, len, TSK_FS_FILE_READ_FLAG_NONE);
        if (n < 0) {
            set_err(err, errlen, "cannot read file content");
            result = -1;
            break;
        }
        if (n == 0)
            break; /* shorter than its attribute says; report what there was */
        done += (uint64_t)n;
        if (cb(ud, buf, (size_t)n))
            break;
    }
    free(buf);
    tsk_fs_file_close(file);
    if (result < 0)
        return -1;
    if (truncated && done < size)
        *truncated = 1;
    return (int64_t)done;
}

/* ---- unallocated blocks ------------------------------------------------------------------ */

struct unalloc_walk {
    hg_block_cb cb;
    void *ud;
    int stopped;
    int64_t fs_offset;
    unsigned block_size;
    char *buf;
    size_t cap;     /* multiple of block_size, <= max(HG_CHUNK, block_size) */
    int64_t run_off; /* image offset of buf[0] */
    size_t run_len;
};

static int flush_run(struct unalloc_walk *w)
{
    int stop = 0;
    if (w->run_len) {
        stop = w->cb(w->ud, w->run_off, w->buf, w->run_len);
        w->run_len = 0;
    }
    return stop;
}

static TSK_WALK_RET_ENUM unalloc_cb(const TSK_FS_BLOCK *b, void *ptr)
{
    struct unalloc_walk *w = (struct unalloc_walk *)ptr;
    int64_t off = w->fs_offset + (int64_t)b->addr * (int64_t)w->block_size;

    if (!(b->flags & TSK_FS_BLOCK_FLAG_UNALLOC))
        return TSK_WALK_CONT;
    if (w->run_len && (off != w->run_off + (int64_t)w->run_len || w->run_len + w->block_size > w->cap)) {
        if (flush_run(w)) {
            w->stopped = 1;
            return TSK_WALK_STOP;
        }
    }
    if (w->run_len == 0)
        w->run_off = off;
    memcpy(w->buf + w->run_len, b->buf, w->block_size);
    w->run_len += w->block_size;
    return TSK_WALK_CONT;
}

int hg_fs_unallocated(hg_fs *fs, hg_block_cb cb, void *ud, char *err, size_t errlen)
{
    TSK_FS_INFO *f = as_fs(fs);
    struct unalloc_walk w;
    TSK_DADDR_T last;
    uint8_t failed;

    clear_err(err, errlen);
    tsk_error_reset();
    if (!fs || !cb || f->block_size == 0) {
        copy_str(err, errlen, "hg_fs_unallocated: bad arguments");
        return -1;
    }
    memset(&w, 0, sizeof w);
    w.cb = cb;
    w.ud = ud;
    w.fs_offset = (int64_t)f->offset;
    w.block_size = f->block_size;
    w.cap = f->block_size >= HG_CHUNK ? f->block_size : (HG_CHUNK / f->block_size) * f->block_size;
    w.buf = (char *)malloc(w.cap);
    if (!w.buf) {
        copy_str(err, errlen, "hg_fs_unallocated: out of memory");
        return -1;
    }
    /* Blocks past the end of a truncated image cannot be read. */
    last = f->last_block_act < f->last_block ? f->last_block_act : f->last_block;
    failed = tsk_fs_block_walk(f, f->first_block, last, TSK_FS_BLOCK_WALK_FLAG_UNALLOC, unalloc_cb, &w);
    if (!failed && !w.stopped && flush_run(&w))
        w.stopped = 1;
    free(w.buf);
    if (failed) {
        set_err(err, errlen, "unallocated block walk failed");
        return -1;
    }
    return w.stopped ? 1 : 0;
}
