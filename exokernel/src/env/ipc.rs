//! Protected control transfer: synchronous IPC between environments.
//!
//! A message is four words and at most one capability. `IPC_SEND` and
//! `IPC_CALL` rendezvous with the receiver: if it waits in `IPC_RECV`, the
//! message is delivered at once (and a call switches straight to the
//! receiver, donating the rest of the caller's slice); otherwise the sender
//! blocks until the receiver asks. A capability travels by `transfer`, so
//! it keeps its rights (at most), stays revocable by the sender's ancestors,
//! and needs `GRANT`; every message obeys the information-flow rule.

use exo_abi::{Error, NO_CAP};
use hal::UserContext;

use super::{Kernel, Next, Platform, State, cap_error};
use crate::cap::{CapHandle, EnvId};

/// One message in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// Payload.
    pub words: [u64; 4],
    /// A capability of the sender to transfer with it.
    pub cap: Option<CapHandle>,
}

impl<P: Platform, C: UserContext> Kernel<P, C> {
    /// Validates a send from `from` to `to` and builds the message.
    fn prepare(&self, from: EnvId, args: &[u64; 6]) -> Result<(EnvId, Message), Error> {
        let to = u32::try_from(args[0])
            .map(EnvId)
            .map_err(|_| Error::NoSuchEnvironment)?;
        if to == from {
            return Err(Error::Deadlock);
        }
        if self.env(to).is_none() {
            return Err(Error::NoSuchEnvironment);
        }
        self.caps.check_ipc_flow(from, to).map_err(cap_error)?;
        let cap = if args[5] == NO_CAP {
            None
        } else {
            let handle = self.handle(from, args[5])?;
            let cap = self.caps.lookup(from, handle).map_err(cap_error)?;
            cap.require(crate::cap::Rights::GRANT).map_err(cap_error)?;
            Some(handle)
        };
        Ok((
            to,
            Message {
                words: [args[1], args[2], args[3], args[4]],
                cap,
            },
        ))
    }

    /// The receiver-side registers for `message` from `from`: the sender,
    /// the words, and the transferred capability's handle in `to`'s table
    /// (or `NO_CAP` if it no longer exists or cannot be transferred).
    fn deliver(&mut self, from: EnvId, to: EnvId, message: &Message) -> [u64; 6] {
        let cap = message
            .cap
            .and_then(|h| {
                let rights = self.caps.lookup(from, h).ok()?.rights;
                self.caps.transfer(from, h, to, rights).ok()
            })
            .map_or(NO_CAP, |h| exo_abi::encode_handle(h.index, h.generation));
        let [w0, w1, w2, w3] = message.words;
        [u64::from(from.0), w0, w1, w2, w3, cap]
    }

    /// `IPC_SEND` (`call: false`) and `IPC_CALL` from the current
    /// environment `me`.
    pub(super) fn ipc_send(&mut self, me: EnvId, context: &mut C, call: bool) -> Next {
        let args = context.syscall_args();
        let (to, message) = match self.prepare(me, &args) {
            Ok(v) => v,
            Err(e) => {
                context.set_results(&[e.to_raw()]);
                return Next::Resume;
            }
        };
        let receiving = self.env(to).is_some_and(|e| e.state == State::Receiving);
        if receiving {
            let values = self.deliver(me, to, &message);
            if let Some(target) = self.env_mut(to) {
                target.context.set_results(&values);
                target.state = State::Runnable;
            }
            if call {
                context.set_results(&[0]);
                self.save(context);
                if let Some(caller) = self.env_mut(me) {
                    caller.state = State::AwaitingReply { from: to };
                }
                // Protected control transfer: run the callee now.
                return self.switch_to(to, context);
            }
            context.set_results(&[0]);
            return Next::Resume;
        }
        // Block until `to` receives.
        context.set_results(&[0]);
        self.save(context);
        let since = self.next_sequence();
        if let Some(sender) = self.env_mut(me) {
            sender.state = State::Sending {
                to,
                message,
                call,
                since,
            };
        }
        self.reschedule(context)
    }

    /// Delivers the longest-waiting message to `me` into `context`;
    /// `false` if nobody is sending to `me`.
    fn take_message(&mut self, me: EnvId, context: &mut C) -> bool {
        let sender = self
            .envs
            .iter()
            .flatten()
            .filter_map(|e| match e.state {
                State::Sending {
                    to,
                    since,
                    call,
                    message,
                } if to == me => Some((since, e.id, call, message)),
                _ => None,
            })
            .min_by_key(|&(since, ..)| since);
        let Some((_, from, call, message)) = sender else {
            return false;
        };
        let values = self.deliver(from, me, &message);
        context.set_results(&values);
        if let Some(s) = self.env_mut(from) {
            s.state = if call {
                State::AwaitingReply { from: me }
            } else {
                State::Runnable
            };
        }
        true
    }

    /// `IPC_RECV` from the current environment `me`.
    pub(super) fn ipc_recv(&mut self, me: EnvId, context: &mut C) -> Next {
        if self.take_message(me, context) {
            return Next::Resume;
        }
        self.save(context);
        if let Some(e) = self.env_mut(me) {
            e.state = State::Receiving;
        }
        self.reschedule(context)
    }

    /// `IPC_REPLY_RECV`: the reply of [`ipc_reply`](Self::ipc_reply), then
    /// the wait of [`ipc_recv`](Self::ipc_recv). When no message is
    /// waiting, the kernel switches straight to the caller it just
    /// answered instead of consulting the slice vector: one system call and
    /// one switch per request on a server's loop.
    pub(super) fn ipc_reply_recv(&mut self, me: EnvId, context: &mut C) -> Next {
        let args = context.syscall_args();
        let caller = match self.reply(me, &args) {
            Ok(caller) => caller,
            Err(e) => {
                context.set_results(&[e.to_raw()]);
                return Next::Resume;
            }
        };
        if self.take_message(me, context) {
            return Next::Resume;
        }
        self.save(context);
        if let Some(e) = self.env_mut(me) {
            e.state = State::Receiving;
        }
        if self.env(caller).is_some_and(|e| e.state == State::Runnable) {
            self.switch_to(caller, context)
        } else {
            self.reschedule(context)
        }
    }

    /// Delivers `me`'s reply in `args` to the caller waiting on it, which
    /// becomes runnable; returns the caller.
    fn reply(&mut self, me: EnvId, args: &[u64; 6]) -> Result<EnvId, Error> {
        let (to, message) = self.prepare(me, args)?;
        let waiting = self
            .env(to)
            .is_some_and(|e| e.state == State::AwaitingReply { from: me });
        if !waiting {
            return Err(Error::InvalidArgument);
        }
        let values = self.deliver(me, to, &message);
        if let Some(caller) = self.env_mut(to) {
            caller.context.set_results(&values);
            caller.state = State::Runnable;
        }
        Ok(to)
    }

    /// `IPC_REPLY` from the current environment `me` to a caller waiting
    /// on it.
    pub(super) fn ipc_reply(&mut self, me: EnvId, context: &mut C) -> Next {
        let args = context.syscall_args();
        let result = self.reply(me, &args).map_or_else(Error::to_raw, |_| 0);
        context.set_results(&[result]);
        Next::Resume
    }
}
