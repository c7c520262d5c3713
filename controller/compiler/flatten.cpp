#include "controller/compiler/flatten.hpp"

#include <algorithm>

namespace natctl::compiler {
namespace {

struct Span {
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    std::size_t owner = 0;
};

Span span_of(const OwnedPrefix& prefix) {
    const std::uint64_t size = std::uint64_t{1} << (32 - prefix.length);
    const std::uint64_t first = prefix.address & ~(size - 1);
    return {first, first + size - 1, prefix.owner};
}

class IntervalWriter {
  public:
    // Appends [first, last] unless empty; joins it to the previous interval when they touch
    // and share the owner.
    void write(std::uint64_t first, std::uint64_t last, std::size_t owner) {
        if (first > last) return;
        if (!out_.empty() && out_.back().owner == owner &&
            std::uint64_t{out_.back().last} + 1 == first) {
            out_.back().last = static_cast<std::uint32_t>(last);
            return;
        }
        out_.push_back(
            {static_cast<std::uint32_t>(first), static_cast<std::uint32_t>(last), owner});
    }
    std::vector<OwnedInterval> take() { return std::move(out_); }

  private:
    std::vector<OwnedInterval> out_;
};

}  // namespace

std::vector<OwnedInterval> flatten(const std::vector<OwnedPrefix>& prefixes) {
    std::vector<Span> spans;
    spans.reserve(prefixes.size());
    for (const auto& prefix : prefixes)
        spans.push_back(span_of(prefix));
    // Prefixes nest or are disjoint: by start, and the wider first, every prefix comes
    // after all prefixes that contain it.
    std::stable_sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
        if (a.first != b.first) return a.first < b.first;
        return a.last > b.last;
    });

    IntervalWriter writer;
    std::vector<Span> open;  // the chain of prefixes containing the cursor, innermost last
    std::uint64_t cursor = 0;
    auto close_until = [&](std::uint64_t position) {
        while (!open.empty() && open.back().last < position) {
            writer.write(cursor, open.back().last, open.back().owner);
            cursor = std::max(cursor, open.back().last + 1);
            open.pop_back();
        }
    };
    for (const auto& span : spans) {
        close_until(span.first);
        if (!open.empty() && span.first > cursor)
            writer.write(cursor, span.first - 1, open.back().owner);
        cursor = span.first;
        open.push_back(span);
    }
    close_until(std::uint64_t{1} << 32);
    return writer.take();
}

}  // namespace natctl::compiler
