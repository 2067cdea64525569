// ELF core writer for the forked child. See core-writer.h: async-signal-safe calls only.
#include "core-writer.h"
#include "parse-hex.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <unistd.h>

namespace autopsy {
namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kMapsText = 4u << 20;
constexpr size_t kMaxMaps = 32768;
constexpr size_t kPagemapChunk = 8192;  // entries read at a time (32 MB of address space)
constexpr uint64_t kPmPresent = 1ull << 63, kPmSwapped = 1ull << 62, kPmFile = 1ull << 61;

enum Mode : uint8_t {
  kSkip,      // no PT_LOAD at all (unreadable, [vvar], [vsyscall])
  kNoData,    // PT_LOAD without file data: clean file-backed pages, the debugger reads the file
  kElfHeader, // only the first page: the ELF header and build-id of a clean library
  kPresent,   // private anonymous: the pages present or swapped (pagemap), the rest are holes (zeros)
  kResident,  // shared anonymous memory: the pages in memory (mincore)
  kAll,       // a private file mapping with dirty pages: all of it, as the kernel's dumper does
};

struct Map {
  uint64_t start, end, offset;
  const char* path;  // NUL-terminated inside the maps text, or nullptr
  bool r, w, x, shared;
  Mode mode;
  uint64_t filesz, data_off;
};

inline uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

bool StartsWith(const char* s, const char* p) {
  if (!s) return false;
  while (*p) if (*s++ != *p++) return false;
  return true;
}

ssize_t ReadAll(const char* path, char* buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  for (;;) {
    if (n == cap) { close(fd); return -1; }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) { close(fd); return -1; }
    if (r == 0) break;
    n += r;
  }
  close(fd);
  return (ssize_t)n;
}

// Parses /proc/self/maps in place; returns the number of mappings or -1.
long ParseMaps(char* text, size_t len, Map* maps, size_t max) {
  size_t count = 0;
  char* p = text;
  char* end = text + len;
  while (p < end) {
    char* nl = (char*)memchr(p, '\n', end - p);
    if (!nl) nl = end;
    *nl = 0;
    if (count == max) return -1;
    Map& m = maps[count];
    memset(&m, 0, sizeof m);
    const char* q = p;
    m.start = ParseHex(q);
    q++;  // '-'
    m.end = ParseHex(q);
    q++;  // ' '
    m.r = q[0] == 'r';
    m.w = q[1] == 'w';
    m.x = q[2] == 'x';
    m.shared = q[3] == 's';
    q += 5;
    m.offset = ParseHex(q);
    // dev and inode, then spaces before the path
    for (int field = 0; field < 2 && *q; field++) {
      while (*q == ' ') q++;
      while (*q && *q != ' ') q++;
    }
    while (*q == ' ') q++;
    m.path = *q ? q : nullptr;
    count++;
    p = nl + 1;
  }
  return (long)count;
}

bool PwriteAll(int fd, const char* buf, size_t len, uint64_t off) {
  while (len) {
    ssize_t w = pwrite(fd, buf, len, off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    buf += w;
    len -= w;
    off += w;
  }
  return true;
}

// Writes [addr, addr+len) of our own memory at file offset off. Pages that fault (EFAULT) stay holes.
bool WriteMemory(int fd, uint64_t addr, uint64_t len, uint64_t off) {
  while (len) {
    ssize_t w = pwrite(fd, (const void*)addr, len, off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EFAULT) {
      addr += kPage; off += kPage; len = len > kPage ? len - kPage : 0;
      continue;
    }
    if (w <= 0) return false;
    addr += w; off += w; len -= w;
  }
  return true;
}

bool IsAnonPath(const char* path) { return !path || path[0] == '['; }

// Does a private file mapping hold any page that was written (anonymous now, in pagemap terms)?
bool HasDirtyPages(int pm, const Map& m, uint64_t* chunk) {
  for (uint64_t a = m.start; a < m.end;) {
    size_t n = (size_t)((m.end - a) / kPage);
    if (n > kPagemapChunk) n = kPagemapChunk;
    ssize_t r = pread(pm, chunk, n * 8, (off_t)(a / kPage * 8));
    if (r <= 0) return true;  // unknown: keep the data
    size_t got = (size_t)r / 8;
    for (size_t i = 0; i < got; i++)
      if ((chunk[i] & kPmPresent) && !(chunk[i] & kPmFile)) return true;
    a += got * kPage;
  }
  return false;
}

void Classify(int pm, Map& m, uint64_t* chunk) {
  if (!m.r || StartsWith(m.path, "[vvar") || StartsWith(m.path, "[vsyscall]")) { m.mode = kSkip; return; }
  if (m.shared) {
    bool anon_shm = !m.path || StartsWith(m.path, "/dev/zero") || StartsWith(m.path, "/memfd:") ||
                    StartsWith(m.path, "/SYSV") || StartsWith(m.path, "[anon_shmem");
    m.mode = anon_shm ? kResident : kNoData;
  } else if (IsAnonPath(m.path)) {
    m.mode = StartsWith(m.path, "[vdso]") ? kAll : kPresent;
  } else if (m.path[0] != '/') {
    m.mode = kNoData;  // anon_inode:... and the like: nothing a debugger can use, maybe not readable
  } else if (HasDirtyPages(pm, m, chunk)) {
    m.mode = kAll;
  } else {
    m.mode = kNoData;
  }
  if (m.mode == kNoData && m.path && m.path[0] == '/' && m.offset == 0 && m.end - m.start >= kPage && memcmp((const void*)m.start, ELFMAG, SELFMAG) == 0)
    m.mode = kElfHeader;
  m.filesz = m.mode == kNoData ? 0 : m.mode == kElfHeader ? kPage : m.end - m.start;
}

// Pages to write for kPresent (pagemap) and kResident (mincore), in runs.
bool WriteSparse(int fd, int pm, const Map& m, uint64_t* chunk) {
  unsigned char* vec = (unsigned char*)chunk;
  for (uint64_t a = m.start; a < m.end;) {
    size_t n = (size_t)((m.end - a) / kPage);
    if (n > kPagemapChunk) n = kPagemapChunk;
    bool ok;
    if (m.mode == kPresent) {
      ssize_t r = pread(pm, chunk, n * 8, (off_t)(a / kPage * 8));
      ok = r > 0;
      if (ok) n = (size_t)r / 8;
    } else {
      ok = mincore((void*)a, n * kPage, vec) == 0;
    }
    if (!ok) return WriteMemory(fd, a, m.end - a, m.data_off + (a - m.start));  // unknown: write it all
    size_t i = 0;
    while (i < n) {
      bool in = m.mode == kPresent ? (chunk[i] & (kPmPresent | kPmSwapped)) != 0 : (vec[i] & 1) != 0;
      if (!in) { i++; continue; }
      size_t j = i + 1;
      while (j < n && (m.mode == kPresent ? (chunk[j] & (kPmPresent | kPmSwapped)) != 0 : (vec[j] & 1) != 0)) j++;
      uint64_t from = a + i * kPage;
      if (!WriteMemory(fd, from, (j - i) * kPage, m.data_off + (from - m.start))) return false;
      i = j;
    }
    a += n * kPage;
  }
  return true;
}

struct NoteBuf {
  char* p;
  size_t len, cap;
  bool Add(const char* name, uint32_t type, const void* desc, size_t desc_len) {
    size_t namesz = strlen(name) + 1;
    size_t need = sizeof(Elf64_Nhdr) + AlignUp(namesz, 4) + AlignUp(desc_len, 4);
    if (len + need > cap) return false;
    Elf64_Nhdr h = {(Elf64_Word)namesz, (Elf64_Word)desc_len, type};
    char* o = p + len;
    memset(o, 0, need);
    memcpy(o, &h, sizeof h);
    memcpy(o + sizeof h, name, namesz);
    memcpy(o + sizeof h + AlignUp(namesz, 4), desc, desc_len);
    len += need;
    return true;
  }
};

void FillPrstatus(elf_prstatus* st, const CorePlan* plan, const ucontext_t* uc, unsigned long fs_base, int cursig, int si_code) {
  memset(st, 0, sizeof *st);
  st->pr_info.si_signo = cursig;
  st->pr_info.si_code = si_code;
  st->pr_cursig = (short)cursig;
  memcpy(&st->pr_sighold, &uc->uc_sigmask, sizeof st->pr_sighold);
  st->pr_pid = plan->tid ? plan->tid : plan->pid;
  st->pr_ppid = plan->ppid;
  st->pr_pgrp = plan->pgrp;
  st->pr_sid = plan->sid;
  const greg_t* g = uc->uc_mcontext.gregs;
  unsigned long* r = (unsigned long*)&st->pr_reg;  // user_regs_struct order
  r[0] = g[REG_R15]; r[1] = g[REG_R14]; r[2] = g[REG_R13]; r[3] = g[REG_R12];
  r[4] = g[REG_RBP]; r[5] = g[REG_RBX]; r[6] = g[REG_R11]; r[7] = g[REG_R10];
  r[8] = g[REG_R9];  r[9] = g[REG_R8];  r[10] = g[REG_RAX]; r[11] = g[REG_RCX];
  r[12] = g[REG_RDX]; r[13] = g[REG_RSI]; r[14] = g[REG_RDI];
  r[15] = (unsigned long)-1;  // orig_rax
  r[16] = g[REG_RIP];
  unsigned long csgsfs = g[REG_CSGSFS];
  r[17] = csgsfs & 0xffff;  // cs
  r[18] = g[REG_EFL];
  r[19] = g[REG_RSP];
  r[20] = (csgsfs >> 48) & 0xffff ? (csgsfs >> 48) & 0xffff : 0x2b;  // ss
  r[21] = fs_base;
  r[22] = 0;  // gs_base: unused in user space on x64 Linux
  r[23] = r[24] = r[25] = r[26] = 0;  // ds es fs gs
  st->pr_fpvalid = uc->uc_mcontext.fpregs != nullptr;
}

}  // namespace

void DefaultFatalSignalsInChild() {
  static const int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (int s : kSignals) sigaction(s, &sa, nullptr);
}

int WriteCoreInChild(const CorePlan* plan, const ucontext_t* uc, unsigned long fs_base, int cursig, int si_code) {
  char* text = plan->scratch;
  Map* maps = (Map*)(plan->scratch + kMapsText);
  uint64_t* chunk = (uint64_t*)((char*)maps + kMaxMaps * sizeof(Map));
  char* notes = (char*)chunk + kPagemapChunk * 8;
  size_t notes_cap = plan->scratch_size - (size_t)(notes - plan->scratch);

  ssize_t tl = ReadAll("/proc/self/maps", text, kMapsText);
  if (tl <= 0) return kChildMaps;
  long n = ParseMaps(text, (size_t)tl, maps, kMaxMaps);
  if (n < 0) return kChildTooMany;
  int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pm < 0) return kChildPagemap;
  for (long i = 0; i < n; i++) Classify(pm, maps[i], chunk);

  // Notes: PRSTATUS, PRPSINFO, AUXV, FILE, FPREGSET, then ours.
  NoteBuf nb = {notes, 0, notes_cap};
  elf_prstatus st;
  FillPrstatus(&st, plan, uc, fs_base, cursig, si_code);
  nb.Add("CORE", NT_PRSTATUS, &st, sizeof st);
  elf_prpsinfo ps;
  memset(&ps, 0, sizeof ps);
  ps.pr_state = 0;
  ps.pr_sname = 'R';
  ps.pr_uid = plan->uid;
  ps.pr_gid = plan->gid;
  ps.pr_pid = plan->pid;
  ps.pr_ppid = plan->ppid;
  ps.pr_pgrp = plan->pgrp;
  ps.pr_sid = plan->sid;
  memcpy(ps.pr_fname, plan->fname, sizeof ps.pr_fname);
  memcpy(ps.pr_psargs, plan->psargs, sizeof ps.pr_psargs);
  nb.Add("CORE", NT_PRPSINFO, &ps, sizeof ps);
  if (plan->auxv_len) nb.Add("CORE", NT_AUXV, plan->auxv, plan->auxv_len);

  // NT_FILE: count, page size, {start, end, offset in pages} per file mapping, then the names.
  // Built right after the other notes' space, then added as one note (Add copies it to its place).
  {
    size_t files = 0, names = 0;
    for (long i = 0; i < n; i++)
      if (maps[i].path && maps[i].path[0] == '/') { files++; names += strlen(maps[i].path) + 1; }
    size_t desc_len = 16 + files * 24 + names;
    size_t room = nb.cap - nb.len;
    if (desc_len * 2 + 64 < room) {
      char* d = nb.p + nb.cap - desc_len;  // staged at the end of the notes buffer
      uint64_t* w = (uint64_t*)d;
      w[0] = files;
      w[1] = kPage;
      size_t k = 0;
      char* name = d + 16 + files * 24;
      for (long i = 0; i < n; i++) {
        const Map& m = maps[i];
        if (!(m.path && m.path[0] == '/')) continue;
        w[2 + k * 3] = m.start;
        w[3 + k * 3] = m.end;
        w[4 + k * 3] = m.offset / kPage;
        size_t l = strlen(m.path) + 1;
        memcpy(name, m.path, l);
        name += l;
        k++;
      }
      nb.Add("CORE", NT_FILE, d, desc_len);
    }
  }
  if (uc->uc_mcontext.fpregs) nb.Add("CORE", NT_FPREGSET, uc->uc_mcontext.fpregs, 512);
  if (plan->own_note_len) nb.Add("AUTOPSY", kAutopsyNoteType, plan->own_note, plan->own_note_len);

  // Layout: ELF header, program headers, notes, then each PT_LOAD's data page-aligned.
  size_t loads = 0;
  for (long i = 0; i < n; i++) if (maps[i].mode != kSkip) loads++;
  size_t phnum = loads + 1;
  uint64_t off = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
  uint64_t note_off = off;
  off = AlignUp(off + nb.len, kPage);
  for (long i = 0; i < n; i++) {
    Map& m = maps[i];
    if (m.mode == kSkip) continue;
    m.data_off = off;
    off = AlignUp(off + m.filesz, kPage);
  }
  uint64_t total = off;

  Elf64_Ehdr eh;
  memset(&eh, 0, sizeof eh);
  memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = (Elf64_Half)(phnum < PN_XNUM ? phnum : PN_XNUM);
  // More than 65534 segments would need the extended numbering in section 0; the table stops at 32768.
  int fd = plan->fd;
  if (!PwriteAll(fd, (const char*)&eh, sizeof eh, 0)) return kChildWrite;

  // Program headers, written in batches through the pagemap chunk buffer.
  Elf64_Phdr* ph = (Elf64_Phdr*)chunk;
  size_t per = kPagemapChunk * 8 / sizeof(Elf64_Phdr);
  size_t k = 0;
  uint64_t ph_off = sizeof(Elf64_Ehdr);
  memset(&ph[k], 0, sizeof ph[k]);
  ph[k].p_type = PT_NOTE;
  ph[k].p_offset = note_off;
  ph[k].p_filesz = nb.len;
  k++;
  for (long i = 0; i <= n; i++) {
    if (k == per || (i == n && k)) {
      if (!PwriteAll(fd, (const char*)ph, k * sizeof(Elf64_Phdr), ph_off)) return kChildWrite;
      ph_off += k * sizeof(Elf64_Phdr);
      k = 0;
    }
    if (i == n) break;
    const Map& m = maps[i];
    if (m.mode == kSkip) continue;
    Elf64_Phdr& p = ph[k++];
    memset(&p, 0, sizeof p);
    p.p_type = PT_LOAD;
    p.p_offset = m.data_off;
    p.p_vaddr = m.start;
    p.p_filesz = m.filesz;
    p.p_memsz = m.end - m.start;
    p.p_flags = (m.r ? PF_R : 0) | (m.w ? PF_W : 0) | (m.x ? PF_X : 0);
    p.p_align = kPage;
  }
  if (!PwriteAll(fd, nb.p, nb.len, note_off)) return kChildWrite;

  for (long i = 0; i < n; i++) {
    const Map& m = maps[i];
    bool ok = true;
    switch (m.mode) {
      case kSkip: case kNoData: break;
      case kElfHeader: ok = WriteMemory(fd, m.start, kPage, m.data_off); break;
      case kAll: ok = WriteMemory(fd, m.start, m.end - m.start, m.data_off); break;
      case kPresent: case kResident: ok = WriteSparse(fd, pm, m, chunk); break;
    }
    if (!ok) return kChildWrite;
  }
  close(pm);
  if (ftruncate(fd, (off_t)total) != 0) return kChildWrite;
  if (close(fd) != 0) return kChildWrite;
  if (rename(plan->tmp_path, plan->final_path) != 0) return kChildRename;
  return kChildOk;
}

}  // namespace autopsy
