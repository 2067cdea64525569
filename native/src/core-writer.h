// The child side of a live core dump: runs in the forked child, inside the signal handler that forked
// it. Only raw syscalls and the buffers prepared before the fork: no malloc, no stdio, no locks.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontext.h>

namespace autopsy {

// Exit codes of the writer child; 0 is success. The parent maps them to messages.
enum ChildExit {
  kChildOk = 0,
  kChildMaps = 10,     // could not read /proc/self/maps, or it did not fit the buffer
  kChildPagemap = 11,  // could not open /proc/self/pagemap
  kChildTooMany = 12,  // more mappings than the prepared table holds
  kChildWrite = 13,    // a write to the core failed (ENOSPC, EIO, ...)
  kChildRename = 14,   // the rename to the final name failed
};

// Type of our own note (owner "AUTOPSY"): not 1, which readers would take for a prstatus.
constexpr uint32_t kAutopsyNoteType = 0x41555401;

// Prepared by the addon's thread before the signal: the child uses nothing else.
struct CorePlan {
  int fd;                 // the temporary core file, open for writing
  char tmp_path[4096];
  char final_path[4096];
  pid_t pid, ppid, pgrp, sid;
  uid_t uid;
  gid_t gid;
  char fname[16];         // /proc/self/comm
  char psargs[80];        // /proc/self/cmdline, NULs as spaces
  char auxv[4096];        // /proc/self/auxv
  size_t auxv_len;
  char own_note[2048];    // text "key=value\n" for our analyser (node version, isolate, ...)
  size_t own_note_len;
  char* scratch;          // mmap'd before the fork: maps text, mapping table, notes, pagemap chunk
  size_t scratch_size;
  pid_t tid;              // the thread whose registers NT_PRSTATUS holds; 0: the main thread (pid)
};

// Writes the core described by the child's own address space; returns a ChildExit code. `cursig` and
// `si_code` go into NT_PRSTATUS: SIGSTOP for a live dump (lldb hangs on a real-time signal), the fatal
// signal for a crash, so that gdb says "terminated with signal SIGSEGV".
int WriteCoreInChild(const CorePlan* plan, const ucontext_t* uc, unsigned long fs_base, int cursig = 19 /* SIGSTOP */, int si_code = 0);

// In a writer child: the fatal-signal handlers inherited from the app (ours included) back to the
// default, so that a fault in the child ends the child only, without a crash record. Async-signal-safe.
void DefaultFatalSignalsInChild();

}  // namespace autopsy
