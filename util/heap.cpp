#include "util/heap.hpp"

#include <malloc.h>

namespace natctl::util {

void release_heap() {
    ::malloc_trim(0);
}

bool release_heap_after(std::size_t freed_bytes) {
    if (!heap_release_due(freed_bytes)) return false;
    release_heap();
    return true;
}

}  // namespace natctl::util
