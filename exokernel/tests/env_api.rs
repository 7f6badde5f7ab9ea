//! Environments on the model machine: spawning, secure bindings, user
//! pointer checks, revocation unmapping, IPC with capability passing,
//! faults, scheduling and reclamation.

mod support;

use exo_abi::{CapInfo, Error, NO_CAP, access, call, rights};
use exokernel::cap::EnvId;
use exokernel::env::{ExitReason, Fault, Next};
use hal::mmu::PAGE_SIZE;
use support::*;

const HEAP: u64 = 0x1000_0000;

/// Spawns `n` copies of the test program and starts the first.
fn boot(n: usize) -> (TestKernel, Regs, Vec<EnvId>) {
    let mut k = kernel(4096);
    let ids: Vec<EnvId> = (0..n)
        .map(|i| k.spawn(&format!("p{i}"), &program()).expect("spawn"))
        .collect();
    let mut ctx = Regs::default();
    assert_eq!(k.start(&mut ctx), Next::Switched);
    (k, ctx, ids)
}

fn sys(k: &mut TestKernel, ctx: &mut Regs, number: u64, args: &[u64]) -> Result<u64, Error> {
    ctx.call(number, args);
    assert_eq!(k.syscall(ctx), Next::Resume, "call {number:#x} switched");
    ctx.result()
}

/// Runs env `want` (yielding around the slice vector until it is current).
fn run(k: &mut TestKernel, ctx: &mut Regs, want: EnvId) {
    for _ in 0..16 {
        if k.current() == Some(want) {
            return;
        }
        ctx.call(call::YIELD, &[]);
        k.syscall(ctx);
    }
    panic!("env {want:?} never ran");
}

fn read_user(k: &mut TestKernel, env: EnvId, va: u64, len: usize) -> Vec<u8> {
    let phys = k.translate(env, va).expect("mapped") + va % PAGE_SIZE;
    let mut buf = vec![0u8; len];
    k.platform().memory.read(phys, &mut buf);
    buf
}

/// Puts `bytes` at user address `va` of the current environment by
/// writing through its mapping (as the environment itself would).
fn write_user(k: &mut TestKernel, env: EnvId, va: u64, bytes: &[u8]) {
    use exokernel::env::Platform;
    let phys = k.translate(env, va).expect("mapped") + va % PAGE_SIZE;
    k.platform().write_phys(phys, bytes);
}

#[test]
fn spawn_loads_the_image_and_starts_at_the_entry() {
    let (mut k, ctx, ids) = boot(1);
    assert_eq!(ctx.rip, 0x40_1000);
    assert_eq!(
        ctx.r[1],
        u64::from(ids[0].0),
        "first argument is the env id"
    );
    assert_eq!(ctx.rsp, USER_END - PAGE_SIZE - 8);
    assert_eq!(
        read_user(&mut k, ids[0], 0x40_1000, 14),
        b"\xcc code bytes \xcc"
    );
    assert_eq!(read_user(&mut k, ids[0], 0x40_2000, 12), b"initial data");
    // Data, bss (zero) and stack are mapped; the page after bss and the
    // guard page above the stack are not.
    assert_eq!(read_user(&mut k, ids[0], 0x40_4ff0, 16), vec![0; 16]);
    assert!(k.translate(ids[0], USER_END - 2 * PAGE_SIZE).is_some());
    assert!(k.translate(ids[0], 0x40_5000).is_none());
    assert!(
        k.translate(ids[0], USER_END - PAGE_SIZE).is_none(),
        "guard page"
    );
}

#[test]
fn bad_images_are_refused_and_leave_nothing_behind() {
    let mut k = kernel(4096);
    let before = k.platform().memory.free_count();
    let wx = elf_image(
        2,
        2,
        EM_X86_64,
        0x40_1000,
        &[(0x40_1000, 0x10, b"x", PF_RWX)],
    );
    assert!(k.spawn("wx", &wx).is_err());
    assert!(k.spawn("junk", b"\x7fELF garbage").is_err());
    // Too big for memory: fails part-way and is torn down.
    let huge = elf_image(
        2,
        2,
        EM_X86_64,
        0x40_1000,
        &[(0x40_1000, 8000 * PAGE_SIZE, b"x", PF_RX)],
    );
    assert!(k.spawn("huge", &huge).is_err());
    assert_eq!(k.platform().memory.free_count(), before);
    assert_eq!(k.live_envs(), 0);
    assert!(k.exits().is_empty());
}

#[test]
fn debug_write_checks_every_pointer() {
    let (mut k, mut ctx, ids) = boot(1);
    let me = ids[0];
    write_user(&mut k, me, 0x40_2000, b"hello");
    assert_eq!(
        sys(&mut k, &mut ctx, call::DEBUG_WRITE, &[0x40_2000, 5]),
        Ok(5)
    );
    assert_eq!(k.platform().console, b"hello");
    // Spanning data into bss is fine; into the unmapped page is not.
    assert_eq!(
        sys(&mut k, &mut ctx, call::DEBUG_WRITE, &[0x40_4ff0, 16]),
        Ok(16)
    );
    for (ptr, len) in [
        (0x40_4ff0, 17),            // runs into an unmapped page
        (0x10_0000, 8),             // kernel image
        (0xffff_8000_0000_0000, 8), // direct map
        (0x8000_0000_0000, 8),      // non-canonical
        (u64::MAX - 3, 8),          // wraps
        (0x40_5000, 1),             // unmapped
        (0, 1),                     // null
    ] {
        assert_eq!(
            sys(&mut k, &mut ctx, call::DEBUG_WRITE, &[ptr, len]),
            Err(Error::BadAddress),
            "{ptr:#x}+{len}"
        );
    }
    // Huge lengths are cut to the per-call maximum, then checked.
    assert_eq!(
        sys(&mut k, &mut ctx, call::DEBUG_WRITE, &[0x40_2000, u64::MAX]),
        Ok(1024)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::DEBUG_WRITE, &[0x40_2000, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_SELF, &[]),
        Ok(u64::from(me.0))
    );
    assert_eq!(sys(&mut k, &mut ctx, 0xdead, &[]), Err(Error::NoSuchCall));
}

#[test]
fn frames_map_only_with_the_rights_their_capability_grants() {
    let (mut k, mut ctx, _) = boot(1);
    let h = sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[2, 0]).expect("alloc");
    assert_eq!(
        sys(&mut k, &mut ctx, call::MAP, &[h, 0, HEAP, access::WRITE]),
        Ok(0)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::MAP, &[h, 1, HEAP + PAGE_SIZE, 0]),
        Ok(0)
    );
    // W^X, undefined bits, index out of range, kernel range, misaligned, remap.
    let cases: [(&[u64], Error); 7] = [
        (
            &[h, 1, HEAP + 2 * PAGE_SIZE, access::WRITE | access::EXECUTE],
            Error::InvalidArgument,
        ),
        (&[h, 1, HEAP + 2 * PAGE_SIZE, 8], Error::InvalidArgument),
        (&[h, 2, HEAP + 2 * PAGE_SIZE, 0], Error::InvalidArgument),
        (&[h, 0, 0x20_0000, 0], Error::BadAddress),
        (&[h, 0, HEAP + 12, 0], Error::InvalidArgument),
        (&[h, 0, HEAP, 0], Error::AlreadyMapped),
        (
            &[h ^ (1 << 30), 0, HEAP + 2 * PAGE_SIZE, 0],
            Error::BadCapability,
        ),
    ];
    for (args, e) in cases {
        assert_eq!(sys(&mut k, &mut ctx, call::MAP, args), Err(e), "{args:x?}");
    }
    // A read-only child cannot be mapped writable or executable.
    let ro = sys(
        &mut k,
        &mut ctx,
        call::CAP_DERIVE,
        &[h, rights::READ | rights::MAP, 0, 0],
    );
    assert_eq!(ro, Err(Error::InvalidArgument), "count 0 is not a range");
    let info = info(&mut k, &mut ctx, h);
    let ro = sys(
        &mut k,
        &mut ctx,
        call::CAP_DERIVE,
        &[h, rights::READ | rights::MAP, info.first + 1, 1],
    )
    .expect("derive");
    let va = HEAP + 4 * PAGE_SIZE;
    assert_eq!(
        sys(&mut k, &mut ctx, call::MAP, &[ro, 0, va, access::WRITE]),
        Err(Error::PermissionDenied)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::MAP, &[ro, 0, va, access::EXECUTE]),
        Err(Error::PermissionDenied)
    );
    assert_eq!(sys(&mut k, &mut ctx, call::MAP, &[ro, 0, va, 0]), Ok(0));
    assert_eq!(
        sys(&mut k, &mut ctx, call::PROTECT, &[va, access::WRITE]),
        Err(Error::PermissionDenied)
    );
    // Amplification through derive is refused.
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::CAP_DERIVE,
            &[
                ro,
                rights::READ | rights::WRITE | rights::MAP,
                info.first + 1,
                1
            ]
        ),
        Err(Error::PermissionDenied)
    );
    // Protect and unmap.
    assert_eq!(sys(&mut k, &mut ctx, call::PROTECT, &[HEAP, 0]), Ok(0));
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::PROTECT,
            &[HEAP, access::WRITE | access::EXECUTE]
        ),
        Err(Error::InvalidArgument)
    );
    assert_eq!(sys(&mut k, &mut ctx, call::UNMAP, &[HEAP]), Ok(0));
    assert_eq!(
        sys(&mut k, &mut ctx, call::UNMAP, &[HEAP]),
        Err(Error::NotMapped)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::UNMAP, &[0x10_0000]),
        Err(Error::BadAddress)
    );
    // Only the allocation's root frees it.
    assert_eq!(
        sys(&mut k, &mut ctx, call::FRAME_FREE, &[ro]),
        Err(Error::PermissionDenied)
    );
    assert_eq!(sys(&mut k, &mut ctx, call::FRAME_FREE, &[h]), Ok(0));
    assert_eq!(
        sys(&mut k, &mut ctx, call::CAP_INFO, &[ro, 0x40_2000]),
        Err(Error::BadCapability)
    );
}

fn info(k: &mut TestKernel, ctx: &mut Regs, h: u64) -> CapInfo {
    let env = k.current().expect("current");
    assert_eq!(sys(k, ctx, call::CAP_INFO, &[h, 0x40_3000]), Ok(0));
    let bytes = read_user(k, env, 0x40_3000, CapInfo::SIZE);
    CapInfo::from_bytes(bytes.as_slice().try_into().expect("size"))
}

#[test]
fn cap_info_writes_only_to_writable_user_memory() {
    let (mut k, mut ctx, _) = boot(1);
    let h = sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[3, 0]).expect("alloc");
    let i = info(&mut k, &mut ctx, h);
    assert_eq!((i.kind, i.count, i.rights), (1, 3, rights::ALL));
    assert_eq!(
        sys(&mut k, &mut ctx, call::CAP_INFO, &[h, 0x40_1000]),
        Err(Error::BadAddress),
        "code is read-only"
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::CAP_INFO, &[h, 0x40_4fe0]),
        Err(Error::BadAddress),
        "crosses into unmapped"
    );
}

#[test]
fn quota_and_bad_allocations() {
    let (mut k, mut ctx, _) = boot(1);
    assert_eq!(
        sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[0, 0]),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[513, 0]),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[1, 4]),
        Err(Error::InvalidArgument)
    );
    assert!(sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[64, 0]).is_ok());
    assert_eq!(
        sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[1, 0]),
        Err(Error::NoMemory),
        "quota of 64"
    );
}

#[test]
fn revoking_a_frame_capability_unmaps_it_everywhere() {
    let (mut k, mut ctx, ids) = boot(2);
    let (a, b) = (ids[0], ids[1]);
    let h = sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[1, 0]).expect("alloc");
    let first = info(&mut k, &mut ctx, h).first;
    let child = sys(
        &mut k,
        &mut ctx,
        call::CAP_DERIVE,
        &[h, rights::ALL, first, 1],
    )
    .expect("child");
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::MAP,
            &[child, 0, HEAP, access::WRITE]
        ),
        Ok(0)
    );
    let given = sys(
        &mut k,
        &mut ctx,
        call::CAP_TRANSFER,
        &[child, u64::from(b.0), rights::READ | rights::MAP],
    )
    .expect("give");
    run(&mut k, &mut ctx, b);
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::MAP,
            &[given, 0, HEAP, access::WRITE]
        ),
        Err(Error::PermissionDenied)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::MAP, &[given, 0, HEAP, 0]),
        Ok(0)
    );
    assert_eq!(k.translate(a, HEAP), k.translate(b, HEAP), "shared frame");
    run(&mut k, &mut ctx, a);
    assert_eq!(sys(&mut k, &mut ctx, call::CAP_REVOKE, &[child]), Ok(2));
    assert_eq!(k.translate(a, HEAP), None);
    assert_eq!(k.translate(b, HEAP), None);
    // The root still maps; freeing it unmaps and returns the frame.
    let before = k.platform().memory.free_count();
    assert_eq!(sys(&mut k, &mut ctx, call::MAP, &[h, 0, HEAP, 0]), Ok(0));
    assert_eq!(sys(&mut k, &mut ctx, call::FRAME_FREE, &[h]), Ok(0));
    assert_eq!(k.translate(a, HEAP), None);
    assert_eq!(k.platform().memory.free_count(), before + 1);
}

#[test]
fn ipc_call_reply_passes_words_and_a_capability() {
    let (mut k, mut ctx, ids) = boot(2);
    let (client, server) = (ids[0], ids[1]);
    // The server waits first.
    run(&mut k, &mut ctx, server);
    ctx.call(call::IPC_RECV, &[]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    assert_eq!(k.current(), Some(client));
    let h = sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[1, 0]).expect("alloc");
    ctx.call(call::IPC_CALL, &[u64::from(server.0), 1, 2, 3, 4, h]);
    assert_eq!(
        k.syscall(&mut ctx),
        Next::Switched,
        "call switches to the server"
    );
    assert_eq!(k.current(), Some(server));
    assert_eq!(&ctx.r[..5], &[u64::from(client.0), 1, 2, 3, 4]);
    let got = ctx.r[5];
    assert_ne!(got, NO_CAP);
    let i = info(&mut k, &mut ctx, got);
    assert_eq!(i.count, 1);
    // Reply, then the client picks it up.
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::IPC_REPLY,
            &[u64::from(client.0), 10, 20, 30, 40, NO_CAP]
        ),
        Ok(0)
    );
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::IPC_REPLY,
            &[u64::from(client.0), 0, 0, 0, 0, NO_CAP]
        ),
        Err(Error::InvalidArgument),
        "no second reply"
    );
    run(&mut k, &mut ctx, client);
    assert_eq!(&ctx.r[..6], &[u64::from(server.0), 10, 20, 30, 40, NO_CAP]);
}

#[test]
fn ipc_send_blocks_until_received_and_refuses_nonsense() {
    let (mut k, mut ctx, ids) = boot(2);
    let (a, b) = (ids[0], ids[1]);
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::IPC_SEND,
            &[u64::from(a.0), 0, 0, 0, 0, NO_CAP]
        ),
        Err(Error::Deadlock)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::IPC_SEND, &[7, 0, 0, 0, 0, NO_CAP]),
        Err(Error::NoSuchEnvironment)
    );
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::IPC_SEND,
            &[u64::MAX, 0, 0, 0, 0, NO_CAP]
        ),
        Err(Error::NoSuchEnvironment)
    );
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::IPC_SEND,
            &[u64::from(b.0), 0, 0, 0, 0, 12345]
        ),
        Err(Error::BadCapability)
    );
    ctx.call(call::IPC_SEND, &[u64::from(b.0), 5, 6, 7, 8, NO_CAP]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched, "a blocks");
    assert_eq!(k.current(), Some(b));
    assert_eq!(
        sys(&mut k, &mut ctx, call::IPC_RECV, &[]),
        Ok(u64::from(a.0))
    );
    assert_eq!(&ctx.r[1..5], &[5, 6, 7, 8]);
    run(&mut k, &mut ctx, a);
    assert_eq!(ctx.result(), Ok(0), "the send completed");
}

#[test]
fn a_faulting_environment_dies_alone_and_its_waiters_wake() {
    let (mut k, mut ctx, ids) = boot(3);
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    // a sends to c and blocks; b runs.
    ctx.call(call::IPC_SEND, &[u64::from(c.0), 0, 0, 0, 0, NO_CAP]);
    k.syscall(&mut ctx);
    run(&mut k, &mut ctx, c);
    let before = k.live_envs();
    let fault = Fault {
        name: "page fault",
        vector: 14,
        ip: 0x40_1004,
        address: Some(0xdead_0000),
        error: 6,
    };
    assert_eq!(k.fault(&mut ctx, fault), Next::Switched);
    assert_eq!(k.live_envs(), before - 1);
    let record = k.exits()[0];
    assert_eq!(record.env, c);
    assert_eq!(record.reason, ExitReason::Faulted(fault));
    assert!(
        record
            .to_string()
            .contains("killed by page fault at ip 0x401004 (address 0xdead0000)")
    );
    // a woke with an error.
    run(&mut k, &mut ctx, a);
    assert_eq!(ctx.result(), Err(Error::NoSuchEnvironment));
    let _ = b;
}

#[test]
fn timer_slices_rotate_and_exit_reclaims_everything() {
    let mut k = kernel(4096);
    let free = k.platform().memory.free_count();
    let ids: Vec<EnvId> = (0..3)
        .map(|i| k.spawn(&format!("p{i}"), &program()).expect("spawn"))
        .collect();
    let mut ctx = Regs::default();
    k.start(&mut ctx);
    let mut seen = vec![k.current().expect("running")];
    for _ in 0..6 {
        match k.tick(&mut ctx, true) {
            Next::Resume => {}
            Next::Switched => seen.push(k.current().expect("running")),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen.len(), 4, "two ticks per slice: {seen:?}");
    assert_eq!(seen[0], seen[3]);
    assert_ne!(seen[0], seen[1]);
    // Ticks that interrupt the kernel never switch.
    assert_eq!(k.tick(&mut ctx, false), Next::Resume);
    // Everyone allocates, maps, shares and exits.
    for _ in 0..3 {
        let h = sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[4, 0]).expect("alloc");
        sys(&mut k, &mut ctx, call::MAP, &[h, 3, HEAP, access::WRITE]).expect("map");
        let other = ids
            .iter()
            .find(|&&e| Some(e) != k.current())
            .copied()
            .expect("other");
        let _ = sys(
            &mut k,
            &mut ctx,
            call::CAP_TRANSFER,
            &[h, u64::from(other.0), rights::READ | rights::MAP],
        );
        ctx.call(call::ENV_EXIT, &[7]);
        let next = k.syscall(&mut ctx);
        assert!(matches!(next, Next::Switched | Next::Finished), "{next:?}");
    }
    assert_eq!(k.live_envs(), 0);
    assert_eq!(k.exits().len(), 3);
    assert!(k.exits().iter().all(|r| r.reason == ExitReason::Exited(7)));
    assert_eq!(
        k.platform().memory.free_count(),
        free,
        "every frame came back"
    );
    assert_eq!(k.platform().active, None);
}

#[test]
fn a_deadlock_ends_everyone_instead_of_idling_forever() {
    let (mut k, mut ctx, ids) = boot(2);
    ctx.call(call::IPC_RECV, &[]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    ctx.call(call::IPC_RECV, &[]);
    assert_eq!(k.syscall(&mut ctx), Next::Finished);
    assert_eq!(k.live_envs(), 0);
    assert!(k.exits().iter().all(|r| r.reason == ExitReason::Stalled));
    assert_eq!(k.exits().len(), ids.len());
    assert!(k.exits()[0].to_string().contains("stalled"));
}

const HANDLER: u64 = 0x40_1010;
/// Upcall stack: the top of the program's bss page.
const UPCALL_STACK: u64 = 0x40_5000;

fn frame_words(k: &mut TestKernel, env: EnvId, frame: u64) -> Vec<u64> {
    read_user(k, env, frame, exo_abi::upcall::FRAME_BYTES)
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

#[test]
fn unknown_syscalls_reach_the_upcall_handler_which_can_answer_them() {
    let (mut k, mut ctx, ids) = boot(1);
    let me = ids[0];
    assert_eq!(ctx.rip, 0x40_1000);
    for bad in [
        [0x10, UPCALL_STACK],
        [HANDLER, 0x1000],
        [HANDLER, UPCALL_STACK + 8],
        [u64::MAX, UPCALL_STACK],
    ] {
        assert_eq!(
            sys(&mut k, &mut ctx, call::UPCALL_REGISTER, &bad),
            Err(Error::InvalidArgument),
            "{bad:x?}"
        );
    }
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::UPCALL_REGISTER,
            &[HANDLER, UPCALL_STACK]
        ),
        Ok(0)
    );
    ctx.rip = 0x40_1004;
    ctx.call(0x3c, &[7, 8, 9]); // Linux's exit, say
    assert_eq!(k.syscall(&mut ctx), Next::Resume);
    assert_eq!(ctx.rip, HANDLER);
    assert_eq!(ctx.r[1], exo_abi::upcall::SYSCALL);
    let frame = ctx.r[2];
    assert!(frame < UPCALL_STACK && frame % 16 == 0);
    assert_eq!(ctx.rsp, frame - 8);
    let words = frame_words(&mut k, me, frame);
    assert_eq!(words[0], exo_abi::upcall::SYSCALL);
    assert_eq!(words[1], 0x3c);
    let saved = &words[exo_abi::upcall::CONTEXT..];
    assert_eq!(
        &saved[..4],
        &[0x3c, 7, 8, 9],
        "the arguments are in the saved context"
    );
    assert_eq!(saved[7], 0x40_1004, "saved rip");
    // Inside the handler another unknown call is just an error.
    assert_eq!(sys(&mut k, &mut ctx, 0x3c, &[]), Err(Error::NoSuchCall));
    // The handler sets the result and returns.
    write_user(
        &mut k,
        me,
        frame + 8 * exo_abi::upcall::CONTEXT as u64,
        &42u64.to_le_bytes(),
    );
    ctx.call(call::UPCALL_RETURN, &[frame]);
    assert_eq!(k.syscall(&mut ctx), Next::Resume);
    assert_eq!((ctx.rip, ctx.r[0], ctx.r[1]), (0x40_1004, 42, 7));
    // Not in a handler any more.
    assert_eq!(
        sys(&mut k, &mut ctx, call::UPCALL_RETURN, &[frame]),
        Err(Error::InvalidArgument)
    );
}

#[test]
fn faults_go_to_the_handler_and_a_fault_inside_it_kills() {
    let (mut k, mut ctx, ids) = boot(2);
    let me = ids[0];
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::UPCALL_REGISTER,
            &[HANDLER, UPCALL_STACK]
        ),
        Ok(0)
    );
    let fault = Fault {
        name: "page fault",
        vector: 14,
        ip: 0x40_1008,
        address: Some(HEAP),
        error: 6,
    };
    assert_eq!(k.fault(&mut ctx, fault), Next::Resume);
    assert_eq!((ctx.rip, ctx.r[1]), (HANDLER, exo_abi::upcall::FAULT));
    let words = frame_words(&mut k, me, ctx.r[2]);
    assert_eq!(&words[1..5], &[14, 0x40_1008, HEAP, 6]);
    assert_eq!(
        k.fault(&mut ctx, fault),
        Next::Switched,
        "nested fault: killed"
    );
    assert_eq!(k.exits()[0].env, me);
    assert_eq!(k.current(), Some(ids[1]));
}

#[test]
fn slice_end_upcall_then_preemption() {
    let (mut k, mut ctx, ids) = boot(2);
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::UPCALL_REGISTER,
            &[HANDLER, UPCALL_STACK]
        ),
        Ok(0)
    );
    ctx.rip = 0x40_1002;
    assert_eq!(k.tick(&mut ctx, true), Next::Resume);
    assert_eq!(k.tick(&mut ctx, true), Next::Resume, "slice over: upcall");
    assert_eq!((ctx.rip, ctx.r[1]), (HANDLER, exo_abi::upcall::SLICE_END));
    assert_eq!(
        k.tick(&mut ctx, true),
        Next::Switched,
        "grace tick over: preempted"
    );
    assert_eq!(k.current(), Some(ids[1]));
    // When it runs again it is still inside its handler.
    run(&mut k, &mut ctx, ids[0]);
    assert_eq!(ctx.rip, HANDLER);
}

#[test]
fn an_unwritable_upcall_stack_falls_back_to_the_default() {
    let (mut k, mut ctx, _) = boot(1);
    // Code pages are read-only: the frame cannot be written.
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::UPCALL_REGISTER,
            &[HANDLER, 0x40_2000]
        ),
        Ok(0)
    );
    assert_eq!(sys(&mut k, &mut ctx, 0x999, &[]), Err(Error::NoSuchCall));
}

#[test]
fn bound_interrupts_wake_their_owner_and_stay_masked_until_acked() {
    use exokernel::cap::{Capability, Level, Resource, Rights};
    let (mut k, mut ctx, ids) = boot(2);
    let (driver, other) = (ids[0], ids[1]);
    let irq = k
        .grant(
            driver,
            Capability::new(
                Resource::Irq { first: 8, count: 2 },
                Rights::BIND,
                Level::new(8).unwrap(),
            ),
        )
        .expect("grant");
    assert_eq!(
        sys(&mut k, &mut ctx, call::IRQ_WAIT, &[]),
        Err(Error::InvalidArgument),
        "owns no line"
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::IRQ_BIND, &[irq, 7, 0]),
        Err(Error::PermissionDenied)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::IRQ_BIND, &[irq, 9, 8]),
        Err(Error::InvalidArgument)
    );
    let frames = sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[1, 0]).expect("alloc");
    assert_eq!(
        sys(&mut k, &mut ctx, call::IRQ_BIND, &[frames, 9, 0]),
        Err(Error::WrongKind)
    );
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::IRQ_BIND,
            &[irq, 9, exo_abi::irq_flags::LEVEL]
        ),
        Ok(0)
    );
    assert_eq!(k.platform().routed.get(&9), Some(&(true, false, false)));
    assert_eq!(
        sys(&mut k, &mut ctx, call::IRQ_BIND, &[irq, 9, 0]),
        Err(Error::AlreadyMapped)
    );
    // Wait: blocks, the other environment runs.
    ctx.call(call::IRQ_WAIT, &[]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    assert_eq!(k.current(), Some(other));
    assert_eq!(
        sys(&mut k, &mut ctx, call::IRQ_ACK, &[9]),
        Err(Error::PermissionDenied),
        "not the owner"
    );
    exokernel::env::Platform::irq_mask(k.platform(), 9, true); // as the arch does when the line fires
    assert_eq!(k.irq(9, &mut ctx, true), Next::Resume);
    run(&mut k, &mut ctx, driver);
    assert_eq!(ctx.result(), Ok(1 << 9));
    assert_eq!(
        k.platform().routed.get(&9).map(|r| r.2),
        Some(true),
        "masked until acked"
    );
    assert_eq!(sys(&mut k, &mut ctx, call::IRQ_ACK, &[9]), Ok(0));
    assert_eq!(k.platform().routed.get(&9).map(|r| r.2), Some(false));
    // A line that fires while nobody waits is pending for the next wait.
    k.irq(9, &mut ctx, true);
    assert_eq!(sys(&mut k, &mut ctx, call::IRQ_WAIT, &[]), Ok(1 << 9));
    // With a bound line, "everyone blocked" is idling, not a deadlock.
    run(&mut k, &mut ctx, other);
    ctx.call(call::IPC_RECV, &[]);
    k.syscall(&mut ctx);
    ctx.call(call::IRQ_WAIT, &[]);
    assert_eq!(k.syscall(&mut ctx), Next::Idle);
    k.irq(9, &mut ctx, false);
    assert_eq!(k.start(&mut ctx), Next::Switched);
    assert_eq!(k.current(), Some(driver));
    assert_eq!(ctx.result(), Ok(1 << 9));
    // Exit releases and masks the line.
    assert_eq!(sys(&mut k, &mut ctx, call::IRQ_UNBIND, &[9]), Ok(0));
    assert_eq!(
        sys(&mut k, &mut ctx, call::IRQ_UNBIND, &[9]),
        Err(Error::PermissionDenied)
    );
    assert_eq!(sys(&mut k, &mut ctx, call::IRQ_BIND, &[irq, 8, 0]), Ok(0));
    ctx.call(call::ENV_EXIT, &[0]);
    k.syscall(&mut ctx);
    assert_eq!(k.platform().routed.get(&8).map(|r| r.2), Some(true));
}

#[test]
fn mmio_maps_uncached_and_never_executable_dma_reports_physical_addresses() {
    use exokernel::cap::{Capability, Level, Resource, Rights};
    let (mut k, mut ctx, ids) = boot(1);
    let me = ids[0];
    let mmio = k
        .grant(
            me,
            Capability::new(
                Resource::Mmio {
                    base: 0xfed0_0000,
                    len: 0x2000,
                },
                Rights::READ | Rights::WRITE | Rights::MAP | Rights::EXECUTE,
                Level::new(8).unwrap(),
            ),
        )
        .expect("grant");
    assert_eq!(
        sys(&mut k, &mut ctx, call::MAP, &[mmio, 1, HEAP, access::WRITE]),
        Ok(0)
    );
    assert_eq!(k.translate(me, HEAP), Some(0xfed0_1000));
    assert_eq!(
        sys(&mut k, &mut ctx, call::MAP, &[mmio, 2, HEAP + PAGE_SIZE, 0]),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::MAP,
            &[mmio, 0, HEAP + PAGE_SIZE, access::EXECUTE]
        ),
        Err(Error::InvalidArgument)
    );
    // DMA: the physical address comes back with the handle.
    ctx.call(call::DMA_ALLOC, &[4, 16 << 20]);
    assert_eq!(k.syscall(&mut ctx), Next::Resume);
    let (handle, phys) = (ctx.r[0], ctx.r[1]);
    assert!(Error::from_raw(handle).is_ok());
    assert!(phys + 4 * PAGE_SIZE <= 16 << 20 && phys % PAGE_SIZE == 0);
    assert_eq!(info(&mut k, &mut ctx, handle).first, phys / PAGE_SIZE);
    ctx.call(call::DMA_ALLOC, &[4, PAGE_SIZE]);
    k.syscall(&mut ctx);
    assert_eq!(
        ctx.result(),
        Err(Error::NoMemory),
        "nothing fits below 4 KiB"
    );
    // CAP_NEXT enumerates the table: image, stack, the grant, the DMA region.
    let mut seen = 0;
    let mut next = 0;
    while let Ok(h) = sys(&mut k, &mut ctx, call::CAP_NEXT, &[next]) {
        seen += 1;
        next = exo_abi::decode_handle(h).0 as u64 + 1;
    }
    assert_eq!(seen, 6, "code, data, stack, CPU time, MMIO, DMA");
    assert_eq!(
        sys(&mut k, &mut ctx, call::CAP_NEXT, &[u64::MAX]),
        Err(Error::BadCapability)
    );
}

#[test]
fn environments_create_start_and_destroy_children_by_capability() {
    let (mut k, mut ctx, ids) = boot(1);
    let parent = ids[0];
    let image = program();
    let pages = (image.len() as u64).div_ceil(PAGE_SIZE);
    let frames = sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[pages, 0]).expect("alloc");
    for i in 0..pages {
        let va = HEAP + i * PAGE_SIZE;
        sys(&mut k, &mut ctx, call::MAP, &[frames, i, va, access::WRITE]).expect("map");
        let chunk =
            &image[(i * PAGE_SIZE) as usize..image.len().min(((i + 1) * PAGE_SIZE) as usize)];
        write_user(&mut k, parent, va, chunk);
    }
    // Bad requests first.
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_CREATE, &[frames, 0]),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::ENV_CREATE,
            &[frames, pages * PAGE_SIZE + 1]
        ),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_CREATE, &[frames, 100]),
        Err(Error::InvalidArgument),
        "truncated ELF"
    );
    ctx.call(call::ENV_CREATE, &[frames, image.len() as u64]);
    assert_eq!(k.syscall(&mut ctx), Next::Resume);
    let (child, handle) = (ctx.r[0], ctx.r[1]);
    let child_id = EnvId(child as u32);
    assert_eq!(k.name(child_id), Some("child"));
    assert_eq!(read_user(&mut k, child_id, 0x40_2000, 12), b"initial data");
    // Suspended: donating to it is refused until it starts.
    assert_eq!(
        sys(&mut k, &mut ctx, call::YIELD_TO, &[child]),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::YIELD_TO, &[99]),
        Err(Error::NoSuchEnvironment)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_START, &[frames]),
        Err(Error::WrongKind)
    );
    // A read-only copy cannot start or destroy it.
    let weak = sys(
        &mut k,
        &mut ctx,
        call::CAP_DERIVE,
        &[handle, rights::READ | rights::DERIVE, child, 1],
    )
    .expect("derive");
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_START, &[weak]),
        Err(Error::PermissionDenied)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_DESTROY, &[weak]),
        Err(Error::PermissionDenied)
    );
    assert_eq!(sys(&mut k, &mut ctx, call::ENV_START, &[handle]), Ok(0));
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_START, &[handle]),
        Err(Error::InvalidArgument),
        "already running"
    );
    // Donation: the child runs at once.
    ctx.call(call::YIELD_TO, &[child]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    assert_eq!(k.current(), Some(child_id));
    assert_eq!(ctx.rip, 0x40_1000);
    run(&mut k, &mut ctx, parent);
    assert_eq!(ctx.result(), Ok(0));
    assert_eq!(sys(&mut k, &mut ctx, call::ENV_DESTROY, &[handle]), Ok(0));
    assert_eq!(k.live_envs(), 1);
    // Every capability naming it died with it; the id may be reused by an
    // unrelated environment, which the old handles cannot reach.
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_DESTROY, &[handle]),
        Err(Error::BadCapability)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_START, &[weak]),
        Err(Error::BadCapability)
    );
    let again = k.spawn("unrelated", &program()).expect("spawn");
    assert_eq!(again, child_id);
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_DESTROY, &[handle]),
        Err(Error::BadCapability)
    );
}

#[test]
fn cpu_time_capabilities_hand_slices_to_another_runner() {
    let (mut k, mut ctx, ids) = boot(3);
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    // Find a's CPU-time capability (kind 2) by enumerating its table.
    let mut cpu = None;
    let mut next = 0;
    while let Ok(h) = sys(&mut k, &mut ctx, call::CAP_NEXT, &[next]) {
        if info(&mut k, &mut ctx, h).kind == 2 {
            cpu = Some(h);
        }
        next = u64::from(exo_abi::decode_handle(h).0) + 1;
    }
    let cpu = cpu.expect("every environment gets a CPU-time capability");
    let frames = sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[1, 0]).expect("alloc");
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::SLICE_ASSIGN,
            &[frames, u64::from(b.0)]
        ),
        Err(Error::WrongKind)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::SLICE_ASSIGN, &[cpu, 77]),
        Err(Error::NoSuchEnvironment)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::SLICE_ASSIGN, &[cpu, u64::from(c.0)]),
        Ok(1)
    );
    // a gave its slot to c: the rounds now go b, c, c.
    let mut order = vec![];
    for _ in 0..6 {
        ctx.call(call::YIELD, &[]);
        k.syscall(&mut ctx);
        order.push(k.current().expect("running"));
    }
    assert!(!order.contains(&a), "{order:?}");
    assert_eq!(order.iter().filter(|&&e| e == c).count(), 4, "{order:?}");
    // When c ends, the slot returns to a.
    run(&mut k, &mut ctx, c);
    ctx.call(call::ENV_EXIT, &[0]);
    k.syscall(&mut ctx);
    run(&mut k, &mut ctx, a);
}

#[test]
fn reply_recv_answers_and_switches_straight_back_to_the_caller() {
    let (mut k, mut ctx, ids) = boot(3);
    let (client, server, bystander) = (ids[0], ids[1], ids[2]);
    run(&mut k, &mut ctx, server);
    ctx.call(call::IPC_RECV, &[]);
    k.syscall(&mut ctx);
    run(&mut k, &mut ctx, client);
    ctx.call(call::IPC_CALL, &[u64::from(server.0), 5, 0, 0, 0, NO_CAP]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    assert_eq!(k.current(), Some(server));
    // Not a caller of ours: refused, nothing blocks.
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::IPC_REPLY_RECV,
            &[u64::from(bystander.0), 0, 0, 0, 0, NO_CAP]
        ),
        Err(Error::InvalidArgument)
    );
    ctx.call(
        call::IPC_REPLY_RECV,
        &[u64::from(client.0), 6, 0, 0, 0, NO_CAP],
    );
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    assert_eq!(
        k.current(),
        Some(client),
        "straight back, not the bystander"
    );
    assert_eq!(&ctx.r[..2], &[u64::from(server.0), 6]);
    // The server is receiving again: the next call goes straight in.
    ctx.call(call::IPC_CALL, &[u64::from(server.0), 7, 0, 0, 0, NO_CAP]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    assert_eq!(k.current(), Some(server));
    assert_eq!(&ctx.r[..2], &[u64::from(client.0), 7]);
}

#[test]
fn interrupts_bound_for_upcalls_reach_the_handler() {
    use exokernel::cap::{Capability, Level, Resource, Rights};
    let (mut k, mut ctx, ids) = boot(2);
    let (driver, other) = (ids[0], ids[1]);
    let irq = k
        .grant(
            driver,
            Capability::new(
                Resource::Irq { first: 5, count: 1 },
                Rights::BIND,
                Level::new(8).unwrap(),
            ),
        )
        .expect("grant");
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::UPCALL_REGISTER,
            &[HANDLER, UPCALL_STACK]
        ),
        Ok(0)
    );
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::IRQ_BIND,
            &[irq, 5, exo_abi::irq_flags::UPCALL]
        ),
        Ok(0)
    );
    // Fires while the driver runs: straight into its handler.
    ctx.rip = 0x40_1006;
    assert_eq!(k.irq(5, &mut ctx, true), Next::Resume);
    assert_eq!((ctx.rip, ctx.r[1]), (HANDLER, exo_abi::upcall::IRQ));
    let words = frame_words(&mut k, driver, ctx.r[2]);
    assert_eq!(words[1], 1 << 5);
    let frame = ctx.r[2];
    ctx.call(call::UPCALL_RETURN, &[frame]);
    k.syscall(&mut ctx);
    assert_eq!(ctx.rip, 0x40_1006);
    // Fires while another environment runs: delivered when the driver is
    // next switched to.
    run(&mut k, &mut ctx, other);
    assert_eq!(k.irq(5, &mut ctx, true), Next::Resume);
    assert_ne!(ctx.rip, HANDLER, "the other environment is untouched");
    run(&mut k, &mut ctx, driver);
    assert_eq!((ctx.rip, ctx.r[1]), (HANDLER, exo_abi::upcall::IRQ));
    // Upcall-mode lines are not for IRQ_WAIT.
    let words = frame_words(&mut k, driver, ctx.r[2]);
    assert_eq!(words[1], 1 << 5);
}

#[test]
fn env_wait_reports_how_a_child_ended() {
    let (mut k, mut ctx, ids) = boot(1);
    let parent = ids[0];
    let image = program();
    let frames = sys(&mut k, &mut ctx, call::FRAME_ALLOC, &[2, 0]).expect("alloc");
    for i in 0..2u64 {
        sys(
            &mut k,
            &mut ctx,
            call::MAP,
            &[frames, i, HEAP + i * PAGE_SIZE, access::WRITE],
        )
        .expect("map");
    }
    write_user(&mut k, parent, HEAP, &image);
    let spawn = |k: &mut TestKernel, ctx: &mut Regs| {
        ctx.call(call::ENV_CREATE, &[frames, image.len() as u64]);
        k.syscall(ctx);
        let (child, handle) = (ctx.r[0], ctx.r[1]);
        assert_eq!(sys(k, ctx, call::ENV_START, &[handle]), Ok(0));
        (EnvId(child as u32), handle)
    };
    // Exit with a code.
    let (child, handle) = spawn(&mut k, &mut ctx);
    ctx.call(call::ENV_WAIT, &[handle]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    assert_eq!(k.current(), Some(child));
    ctx.call(call::ENV_EXIT, &[7]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    assert_eq!(k.current(), Some(parent));
    assert_eq!(ctx.result(), Ok(7));
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_WAIT, &[handle]),
        Err(Error::BadCapability),
        "gone"
    );
    // Killed by a fault.
    let (_child, handle) = spawn(&mut k, &mut ctx);
    ctx.call(call::ENV_WAIT, &[handle]);
    k.syscall(&mut ctx);
    let fault = Fault {
        name: "invalid opcode",
        vector: 6,
        ip: 0x40_1000,
        address: None,
        error: 0,
    };
    assert_eq!(k.fault(&mut ctx, fault), Next::Switched);
    assert_eq!(ctx.result(), Ok(exo_abi::exit_status::FAULTED | 6));
    // Not for oneself, not with a frames capability.
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_WAIT, &[frames]),
        Err(Error::WrongKind)
    );
}

#[test]
fn reflect_all_sends_every_call_to_the_handler_and_tls_follows_the_environment() {
    let (mut k, mut ctx, ids) = boot(2);
    let flags = exo_abi::upcall_flags::REFLECT_ALL;
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::UPCALL_REGISTER,
            &[HANDLER, UPCALL_STACK, 8]
        ),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        sys(
            &mut k,
            &mut ctx,
            call::UPCALL_REGISTER,
            &[HANDLER, UPCALL_STACK, flags]
        ),
        Ok(0)
    );
    // A Linux `write` (1) is exo's ENV_EXIT: reflected, not executed.
    ctx.rip = 0x40_1004;
    ctx.call(1, &[1, 0x40_2000, 5]);
    assert_eq!(k.syscall(&mut ctx), Next::Resume);
    assert_eq!((ctx.rip, ctx.r[1]), (HANDLER, exo_abi::upcall::SYSCALL));
    let frame = ctx.r[2];
    assert_eq!(frame_words(&mut k, ids[0], frame)[1], 1, "the number");
    assert_eq!(k.live_envs(), 2, "nothing exited");
    // Inside the handler, exo calls are native.
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_SELF, &[]),
        Ok(u64::from(ids[0].0))
    );
    assert_eq!(sys(&mut k, &mut ctx, call::TLS_SET, &[0x7000_0000]), Ok(0));
    assert_eq!(k.platform().tls, 0x7000_0000);
    ctx.call(call::UPCALL_RETURN, &[frame]);
    k.syscall(&mut ctx);
    assert_eq!(ctx.rip, 0x40_1004);
    // The thread pointer is per environment.
    run(&mut k, &mut ctx, ids[1]);
    assert_eq!(k.platform().tls, 0, "the other environment's (unset)");
    run(&mut k, &mut ctx, ids[0]);
    assert_eq!(k.platform().tls, 0x7000_0000);
}

/// Copies the test program into fresh frames of the current environment
/// `me`; returns the frames handle and the image length, as `ENV_CREATE`
/// takes them.
fn image_in_frames(k: &mut TestKernel, ctx: &mut Regs, me: EnvId) -> (u64, u64) {
    let image = program();
    let frames = sys(k, ctx, call::FRAME_ALLOC, &[2, 0]).expect("alloc");
    for i in 0..2u64 {
        sys(
            k,
            ctx,
            call::MAP,
            &[frames, i, HEAP + i * PAGE_SIZE, access::WRITE],
        )
        .expect("map");
    }
    write_user(k, me, HEAP, &image);
    (frames, image.len() as u64)
}

/// `ENV_CREATE` + `ENV_START` from the current environment.
fn start_child(k: &mut TestKernel, ctx: &mut Regs, frames: u64, len: u64) -> (EnvId, u64) {
    ctx.call(call::ENV_CREATE, &[frames, len]);
    assert_eq!(k.syscall(ctx), Next::Resume);
    let (child, handle) = (ctx.r[0], ctx.r[1]);
    assert_eq!(sys(k, ctx, call::ENV_START, &[handle]), Ok(0));
    (EnvId(child as u32), handle)
}

#[test]
fn a_child_that_ends_before_anyone_waits_keeps_its_status_until_collected() {
    let (mut k, mut ctx, ids) = boot(1);
    let parent = ids[0];
    let (frames, len) = image_in_frames(&mut k, &mut ctx, parent);
    let (child, handle) = start_child(&mut k, &mut ctx, frames, len);
    let weak = sys(
        &mut k,
        &mut ctx,
        call::CAP_DERIVE,
        &[handle, rights::READ, u64::from(child.0), 1],
    )
    .expect("derive");
    // The child runs and exits while the parent is not waiting.
    ctx.call(call::YIELD_TO, &[u64::from(child.0)]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    ctx.call(call::ENV_EXIT, &[9]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    assert_eq!(k.current(), Some(parent));
    assert_eq!(k.live_envs(), 1, "it no longer runs");
    assert_eq!(k.name(child), None);
    // Its id stays reserved while the status waits to be collected.
    let other = k.spawn("other", &program()).expect("spawn");
    assert_ne!(other, child);
    // Collected once, through any handle that may read it; then every
    // handle is dead.
    assert_eq!(sys(&mut k, &mut ctx, call::ENV_WAIT, &[weak]), Ok(9));
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_WAIT, &[handle]),
        Err(Error::BadCapability)
    );
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_DESTROY, &[handle]),
        Err(Error::BadCapability)
    );
    // A fault is kept the same way; ENV_DESTROY discards an uncollected
    // status and frees the id.
    let (second, handle) = start_child(&mut k, &mut ctx, frames, len);
    ctx.call(call::YIELD_TO, &[u64::from(second.0)]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    let fault = Fault {
        name: "page fault",
        vector: 14,
        ip: 0x40_1000,
        address: Some(0),
        error: 0,
    };
    assert_ne!(k.fault(&mut ctx, fault), Next::Resume);
    run(&mut k, &mut ctx, parent);
    assert_eq!(sys(&mut k, &mut ctx, call::ENV_DESTROY, &[handle]), Ok(0));
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_WAIT, &[handle]),
        Err(Error::BadCapability)
    );
    assert_eq!(k.spawn("reuse", &program()).expect("spawn"), second);
}

#[test]
fn when_a_creator_ends_its_children_are_orphaned_and_its_uncollected_ones_freed() {
    let (mut k, mut ctx, ids) = boot(2);
    let (parent, other) = (ids[0], ids[1]);
    run(&mut k, &mut ctx, parent);
    let (frames, len) = image_in_frames(&mut k, &mut ctx, parent);
    let (live, live_handle) = start_child(&mut k, &mut ctx, frames, len);
    let (ended, _) = start_child(&mut k, &mut ctx, frames, len);
    // The parent hands a read-only copy of the live child's handle on.
    let shared = sys(
        &mut k,
        &mut ctx,
        call::CAP_TRANSFER,
        &[live_handle, u64::from(other.0), rights::READ],
    )
    .expect("transfer");
    ctx.call(call::YIELD_TO, &[u64::from(ended.0)]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    ctx.call(call::ENV_EXIT, &[3]);
    k.syscall(&mut ctx);
    run(&mut k, &mut ctx, parent);
    ctx.call(call::ENV_EXIT, &[0]);
    assert_eq!(k.syscall(&mut ctx), Next::Switched);
    // The live child keeps running; no handle to it survives its creator
    // (a stale one could otherwise reach whatever reuses its id).
    assert!(k.name(live).is_some());
    assert_eq!(k.live_envs(), 2);
    run(&mut k, &mut ctx, other);
    assert_eq!(
        sys(&mut k, &mut ctx, call::ENV_WAIT, &[shared]),
        Err(Error::BadCapability)
    );
    // Both the creator's id and its uncollected child's are free again.
    let reused = [
        k.spawn("a", &program()).expect("spawn"),
        k.spawn("b", &program()).expect("spawn"),
    ];
    assert!(
        reused.contains(&parent) && reused.contains(&ended),
        "{reused:?}"
    );
}
