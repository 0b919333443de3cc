//! What a decoder worker may do, set once before its first job: resource limits, no core dumps,
//! death with its parent, and a seccomp filter. The main processes disable core dumps too, so a
//! crash never writes an upload's bytes to disk.

use std::collections::BTreeMap;

use rustix::process::{Resource, Rlimit, setrlimit};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Most descriptors a worker may hold: its socket, its standard streams, the job's file and the
/// memfd a video is decoded through, with room for what the libraries open internally (none of
/// them opens files after start-up).
const MAX_FILES: u64 = 32;

/// Turns core dumps off for this process (limit 0 and not dumpable), so that a crash in a
/// decoder or anywhere else never writes memory that may hold an upload to disk.
pub fn no_core_dumps() -> std::io::Result<()> {
    setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// A worker's resource limits: `memory` bytes of address space, few descriptors, no core
/// dumps, and death when the parent dies.
pub(super) fn limit_resources(memory: u64) -> std::io::Result<()> {
    no_core_dumps()?;
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(memory),
            maximum: Some(memory),
        },
    )?;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(MAX_FILES),
            maximum: Some(MAX_FILES),
        },
    )?;
    // No file size limit: a video held in memory reaches FFmpeg through a memfd, which counts
    // as a file. Files cannot be opened for writing anyway (the filter refuses every open).
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    Ok(())
}

/// System calls a worker never needs once it holds its socket. A denylist, not an allowlist:
/// the decoders' own thread pools, allocators and CPU-feature probes use a wide and shifting
/// set of calls (an allowlist would break on the next FFmpeg or glibc), while the ways out of
/// a compromised decoder (opening files, sockets, exec, other processes, kernel attack surface)
/// are few and stable.
fn denied() -> Vec<i64> {
    let mut v = vec![
        // Opening or changing files.
        libc::SYS_openat,
        libc::SYS_openat2,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_linkat,
        libc::SYS_unlinkat,
        libc::SYS_renameat,
        libc::SYS_renameat2,
        libc::SYS_mkdirat,
        libc::SYS_symlinkat,
        libc::SYS_mknodat,
        libc::SYS_truncate,
        libc::SYS_fchmodat,
        libc::SYS_fchownat,
        libc::SYS_chroot,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_fanotify_init,
        libc::SYS_inotify_init1,
        // The network.
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_connect,
        libc::SYS_bind,
        libc::SYS_listen,
        libc::SYS_accept,
        libc::SYS_accept4,
        // Programs and other processes.
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_kill,
        libc::SYS_pidfd_open,
        libc::SYS_pidfd_getfd,
        libc::SYS_pidfd_send_signal,
        libc::SYS_setns,
        libc::SYS_unshare,
        // Its own limits and identity.
        libc::SYS_setrlimit,
        libc::SYS_setuid,
        libc::SYS_setgid,
        libc::SYS_setreuid,
        libc::SYS_setregid,
        libc::SYS_setresuid,
        libc::SYS_setresgid,
        libc::SYS_setgroups,
        libc::SYS_personality,
        // Kernel attack surface no decoder uses (io_uring would also bypass this filter).
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_reboot,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        libc::SYS_open,
        libc::SYS_creat,
        libc::SYS_link,
        libc::SYS_unlink,
        libc::SYS_rename,
        libc::SYS_mkdir,
        libc::SYS_rmdir,
        libc::SYS_symlink,
        libc::SYS_mknod,
        libc::SYS_chmod,
        libc::SYS_chown,
        libc::SYS_lchown,
        libc::SYS_inotify_init,
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_kexec_file_load,
    ]);
    v
}

/// The worker's seccomp program: the calls of [`denied`] fail with EPERM (a library that tries
/// one gets an error it handles, not a crash), and `prlimit64` may read limits but not set
/// them (so the CPU-time limit the parent sets stays). Another architecture's calls kill.
fn program() -> Result<BpfProgram, String> {
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| format!("no seccomp support for {}: {e:?}", std::env::consts::ARCH))?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        denied().into_iter().map(|nr| (nr, Vec::new())).collect();
    let sets_limit = SeccompCondition::new(2, SeccompCmpArgLen::Qword, SeccompCmpOp::Ne, 0)
        .and_then(|c| SeccompRule::new(vec![c]))
        .map_err(|e| e.to_string())?;
    rules.insert(libc::SYS_prlimit64, vec![sets_limit]);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())
}

/// x86-64's x32 ABI numbers every call again with bit 30 set; a denylist by number would not
/// see them, so this second program refuses the whole ABI (no hashguard code uses it).
/// seccompiler has no way to say "numbers at or above", hence these four instructions by hand.
#[cfg(target_arch = "x86_64")]
fn x32_guard() -> BpfProgram {
    use seccompiler::sock_filter;
    // BPF_LD | BPF_W | BPF_ABS (the first two are 0).
    const LD_W_ABS: u16 = 0x20;
    const JGE_K: u16 = 0x05 | 0x30;
    const RET_K: u16 = 0x06;
    const RET_ERRNO: u32 = 0x0005_0000;
    const RET_ALLOW: u32 = 0x7fff_0000;
    vec![
        // seccomp_data.nr is at offset 0.
        sock_filter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
        sock_filter {
            code: JGE_K,
            jt: 0,
            jf: 1,
            k: 0x4000_0000,
        },
        sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: RET_ERRNO | libc::EPERM as u32,
        },
        sock_filter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: RET_ALLOW,
        },
    ]
}

/// Installs the filter on every thread of this process (no new privileges first, as seccomp
/// requires). After this the process cannot open a file, a socket or a program.
pub(super) fn seccomp() -> Result<(), String> {
    let prog = program()?;
    seccompiler::apply_filter_all_threads(&prog).map_err(|e| e.to_string())?;
    #[cfg(target_arch = "x86_64")]
    seccompiler::apply_filter_all_threads(&x32_guard()).map_err(|e| e.to_string())?;
    Ok(())
}
