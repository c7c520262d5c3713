// natctl-metrics-lint: checks a Prometheus text exposition on stdin (metrics_lint.hpp);
// exit 0 when it passes, 1 with one line per problem on stderr otherwise. For the tests.
#include <fmt/format.h>

#include <iostream>
#include <iterator>
#include <string>

#include "controller/daemon/metrics_lint.hpp"

int main() {
    std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    auto problems = natctl::metrics::lint_exposition(text);
    for (const auto& p : problems)
        fmt::print(stderr, "{}\n", p);
    return problems.empty() ? 0 : 1;
}
