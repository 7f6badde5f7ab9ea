@0xf980b5cd75390f1c;
# Messages between processes of different personalities (docs/PERSONALITIES.md,
# "Cross-personality IPC"). Every structure travels in a neutral form: the
# sender's personality converts from its ABI's layout, the receiver's
# converts to its own. Nothing is reinterpreted byte for byte.

struct Timespec {
  sec @0 :Int64;
  nsec @1 :UInt32;
}

enum FileKind {
  regular @0;
  directory @1;
  symlink @2;
  charDevice @3;
  blockDevice @4;
  fifo @5;
  socket @6;
}

# What stat reports, without any ABI's field order, widths or padding.
struct FileStat {
  dev @0 :UInt64;
  ino @1 :UInt64;
  kind @2 :FileKind;
  perm @3 :UInt16;          # permission bits and setuid/setgid/sticky (07777)
  nlink @4 :UInt32;
  uid @5 :UInt32;
  gid @6 :UInt32;
  rdev @7 :UInt64;
  size @8 :UInt64;
  blocks @9 :UInt64;        # 512-byte units
  blksize @10 :UInt32;
  atime @11 :Timespec;
  mtime @12 :Timespec;
  ctime @13 :Timespec;
}

struct DirEntry {
  ino @0 :UInt64;
  kind @1 :FileKind;
  name @2 :Data;
}

# A capability delegated with the message: the descriptor in `slot` of the
# message's descriptor list, with at most `rights` (never more than the
# sender held).
struct Capability {
  slot @0 :UInt32;
  rights @1 :UInt32;        # 1 read, 2 write
}

struct Message {
  personality @0 :Text;     # the sender's ABI: linux, freebsd, illumos, native
  pid @1 :UInt32;
  body :union {
    bytes @2 :Data;
    stat @3 :FileStat;
    entries @4 :List(DirEntry);
    error @5 :Text;         # errno by name (ENOENT): every ABI numbers them differently
    time @6 :Timespec;
  }
  capabilities @7 :List(Capability);
}
