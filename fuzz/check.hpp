// An invariant a fuzz target asserts: a violation aborts, which libFuzzer reports as a
// crash and saves the input that caused it.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace natctl::fuzz {

inline void check(bool holds, const char* what) {
    if (holds) return;
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
}

}  // namespace natctl::fuzz
