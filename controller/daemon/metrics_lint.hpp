// A strict checker of the Prometheus text exposition format 0.0.4, for the tests (unit
// tests, and natctl-metrics-lint for the daemon tests where promtool is not installed).
// Besides the syntax (names, label escapes, values, timestamps) it checks what promtool's
// `check metrics` and Prometheus' parser refuse or lint: HELP / TYPE at most once and
// before the family's samples, a family's samples together, no duplicate series, counters
// non-negative and named *_total, every family with HELP text, histograms with
// increasing le bounds, cumulative non-decreasing buckets, a +Inf bucket equal to _count,
// and a _sum.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace natctl::metrics {

// One message per problem ("line 3: ..."); empty when the text passes.
std::vector<std::string> lint_exposition(std::string_view text);

}  // namespace natctl::metrics
