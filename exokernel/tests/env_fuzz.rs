//! Hostile environments on the model machine: random system calls with
//! random and adversarial arguments (including handles they really hold)
//! never panic the kernel, and the secure-binding invariant
//! (`Kernel::audit`) holds after every call.

mod support;

use exo_abi::call;
use exokernel::env::Next;
use proptest::prelude::*;
use support::*;

/// Argument values worth trying: boundaries, kernel and user addresses,
/// and (index 0..4) handles the environment really holds.
fn interesting(pick: u8, raw: u64, handles: &[u64]) -> u64 {
    match pick % 12 {
        0..=3 => handles
            .get(usize::from(pick) % handles.len().max(1))
            .copied()
            .unwrap_or(raw),
        4 => 0,
        5 => u64::MAX,
        6 => 0x40_2000 + (raw % 0x3000),
        7 => 0x1000_0000 + (raw % 64) * 4096,
        8 => 0xffff_8000_0000_0000 + raw % 0x1000_0000,
        9 => 0x10_0000 + raw % 0x30_0000,
        10 => raw % 16,
        _ => raw,
    }
}

const CALLS: [u64; 33] = [
    call::TLS_SET,
    call::IPC_REPLY_RECV,
    call::SLICE_ASSIGN,
    call::YIELD_TO,
    call::ENV_CREATE,
    call::ENV_START,
    call::ENV_DESTROY,
    call::DMA_ALLOC,
    call::CAP_NEXT,
    call::IRQ_BIND,
    call::IRQ_UNBIND,
    call::IRQ_WAIT,
    call::IRQ_ACK,
    call::UPCALL_REGISTER,
    call::UPCALL_RETURN,
    call::IPC_SEND,
    call::IPC_RECV,
    call::IPC_CALL,
    call::DEBUG_WRITE,
    call::YIELD,
    call::ENV_SELF,
    call::FRAME_ALLOC,
    call::FRAME_FREE,
    call::MAP,
    call::UNMAP,
    call::PROTECT,
    call::CAP_INFO,
    call::CAP_DERIVE,
    call::CAP_TRANSFER,
    call::CAP_REVOKE,
    call::CAP_DELETE,
    call::IPC_REPLY,
    0x7777,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_syscalls_keep_the_invariants(
        steps in proptest::collection::vec(
            (any::<u8>(), proptest::array::uniform6(any::<(u8, u64)>()), any::<bool>()),
            1..300,
        ),
    ) {
        let mut k = kernel(2048);
        for i in 0..3 {
            k.spawn(&format!("hostile{i}"), &program()).expect("spawn");
        }
        let mut ctx = Regs::default();
        prop_assert_eq!(k.start(&mut ctx), Next::Switched);
        let mut handles: Vec<u64> = Vec::new();
        for (which, args, tick) in steps {
            let mut number = if which < 240 {
                CALLS[usize::from(which) % CALLS.len()]
            } else {
                u64::from(which) << 8 | u64::from(which)
            };
            // Calls that block end a run once everyone waits: keep them
            // rare so runs go deep.
            let blocking = [
                call::IPC_SEND,
                call::IPC_RECV,
                call::IPC_CALL,
                call::IPC_REPLY_RECV,
                call::IRQ_WAIT,
            ];
            if blocking.contains(&number) && args[0].0 % 8 != 0 {
                number = call::ENV_SELF;
            }
            let args: Vec<u64> = args.iter().map(|&(p, r)| interesting(p, r, &handles)).collect();
            ctx.call(number, &args);
            let next = k.syscall(&mut ctx);
            if next == Next::Resume
                && matches!(number, call::FRAME_ALLOC | call::CAP_DERIVE | call::DMA_ALLOC | call::CAP_NEXT)
                && let Ok(h) = ctx.result()
            {
                handles.push(h);
            }
            if next == Next::Resume && number == call::ENV_CREATE && ctx.result().is_ok() {
                handles.push(ctx.r[1]);
            }
            if matches!(next, Next::Idle | Next::Finished) {
                // Everyone blocked or gone: nothing more can happen.
                break;
            }
            if tick {
                let _ = k.tick(&mut ctx, true);
            }
            prop_assert!(k.audit().is_ok(), "{:?}", k.audit());
            prop_assert!(k.live_envs() <= 8);
        }
    }
}
