// natctld's one rule for handing freed heap memory back to the kernel. glibc keeps what is
// freed for reuse, and the pages of a large transient (a 100k-entry document, its model
// copies, a compile, a snapshot: well over 100 MiB) stay resident among the small blocks the
// daemon keeps, for its whole lifetime (docs/BENCHMARKS.md: RSS 136 -> 50 MiB at 100k
// entries once trimmed). A release walks every free chunk of every arena (milliseconds on a
// fragmented heap), so it follows only an operation that freed at least
// kHeapReleaseThreshold; the caller says how much, from what it knows of the operation's
// size (a message, a snapshot, a compiled table). Measuring instead (mallinfo2) costs as
// much as the release itself.
#pragma once

#include <cstddef>

namespace natctl::util {

inline constexpr std::size_t kHeapReleaseThreshold = std::size_t{1} << 20;

constexpr bool heap_release_due(std::size_t freed_bytes) {
    return freed_bytes >= kHeapReleaseThreshold;
}

// Gives the free pages of every arena back to the kernel now (malloc_trim(0)). For a caller
// that cannot size what it freed and bounds how often it runs (once per burst of writes).
void release_heap();

// release_heap() after an operation that freed about `freed_bytes`, when heap_release_due;
// true when it released.
bool release_heap_after(std::size_t freed_bytes);

}  // namespace natctl::util
