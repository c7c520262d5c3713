// The cost of rendering a large scrape: N gauge samples with two labels from one collector
// (the shape of the per-entry session series), rendered RUNS times; prints the text's size
// and the median, min and max render time.
//
//   build/bench/metrics_render [N [RUNS]]      (default: 100000 11)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "controller/metrics/registry.hpp"

int main(int argc, char** argv) {
    const int samples = argc > 1 ? std::atoi(argv[1]) : 100000;
    const int runs = std::max(1, argc > 2 ? std::atoi(argv[2]) : 11);
    natctl::metrics::Registry registry;
    registry.add_collector([samples](natctl::metrics::Exposition& out) {
        for (int i = 0; i < samples; ++i)
            out.gauge("natctl_sessions", "Sessions.",
                      {{"eip", "eip-" + std::to_string(i % 4)}, {"entry", "d" + std::to_string(i)}},
                      i);
    });
    std::vector<double> ms;
    std::size_t size = 0;
    for (int run = 0; run < runs; ++run) {
        const auto start = std::chrono::steady_clock::now();
        size = registry.render().size();
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%d samples, %zu bytes: median %.1f ms, min %.1f ms, max %.1f ms\n", samples, size,
                ms[ms.size() / 2], ms.front(), ms.back());
}
