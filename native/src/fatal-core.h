// AUTOPSY_FATAL_CORE=1: a core of the crashing process, written from the fatal-signal handler
// (fatal-signals.cc) by a forked child with the live writer's code (core-writer.cc).
#pragma once
#include <signal.h>
#include <ucontext.h>

#include <string>

#include "fatal-signals.h"
#include "signal-json.h"

namespace autopsy {

// Not async-signal-safe: buffers, paths and process fields, prepared when the handlers are armed.
bool ArmFatalCore(const FatalOptions& opts, std::string* err);
void DisarmFatalCore();
// From the handler (async-signal-safe).
bool FatalCoreOn();
void MarkFatalCoreWriting();
void WriteFatalCore(int sig, siginfo_t* info, const ucontext_t* uc, long tid);
// The record's "core" field, with its trailing comma; nothing when no core was asked for.
void WriteFatalCoreField(Out& o);

}  // namespace autopsy
