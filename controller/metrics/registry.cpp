#include "controller/metrics/registry.hpp"

#include <fmt/format.h>
#include <prometheus/check_names.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace natctl::metrics {
namespace {

prometheus::MetricType to_prometheus(Type type) {
    switch (type) {
        case Type::Counter:
            return prometheus::MetricType::Counter;
        case Type::Gauge:
            return prometheus::MetricType::Gauge;
        case Type::Histogram:
            return prometheus::MetricType::Histogram;
    }
    return prometheus::MetricType::Untyped;
}

// The identity of a series within its family, to refuse a second sample of it.
std::string series_key(const Labels& labels) {
    std::string key;
    for (const auto& [name, value] : labels) {
        key += name;
        key += '\0';
        key += value;
        key += '\0';
    }
    return key;
}

void check_labels(std::string_view metric, Type type, const Labels& labels) {
    std::set<std::string_view> seen;
    for (const auto& [name, value] : labels) {
        if (!valid_label_name(name))
            throw std::invalid_argument(fmt::format("{}: invalid label name '{}'", metric, name));
        if (type == Type::Histogram && name == "le")
            throw std::invalid_argument(fmt::format("{}: 'le' is reserved in histograms", metric));
        if (!seen.insert(name).second)
            throw std::invalid_argument(fmt::format("{}: label '{}' given twice", metric, name));
    }
}

void check_bounds(std::string_view metric, const std::vector<double>& bounds) {
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            throw std::invalid_argument(
                fmt::format("{}: bucket bounds must be finite and strictly increasing", metric));
    }
}

void check_name(std::string_view name) {
    if (!valid_metric_name(name))
        throw std::invalid_argument(fmt::format("invalid metric name '{}'", name));
}

std::vector<prometheus::ClientMetric::Label> to_client_labels(const Labels& labels) {
    std::vector<prometheus::ClientMetric::Label> out;
    out.reserve(labels.size());
    for (const auto& [name, value] : labels)
        out.push_back({name, value});
    return out;
}

}  // namespace

bool valid_metric_name(std::string_view name) {
    return prometheus::CheckMetricName(std::string(name));
}

bool valid_label_name(std::string_view name) {
    // prometheus-cpp accepts ':' in label names; the text format does not.
    return name.find(':') == std::string_view::npos &&
           prometheus::CheckLabelName(std::string(name));
}

std::string escape_help(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::vector<double> latency_buckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

// --- Exposition -------------------------------------------------------------------------

prometheus::MetricFamily& Exposition::family(std::string_view name, Type type,
                                             std::string_view help, const Labels& labels) {
    check_name(name);
    check_labels(name, type, labels);
    const auto escaped = escape_help(help);
    if (auto found = index_.find(name); found != index_.end()) {
        auto& existing = families_[found->second.position];
        if (existing.type != to_prometheus(type) || existing.help != escaped)
            throw std::invalid_argument(
                fmt::format("{}: type or help differs from its earlier samples", name));
        return existing;
    }
    index_.emplace(std::string(name), Known{families_.size(), {}});
    families_.push_back({std::string(name), escaped, to_prometheus(type), {}});
    return families_.back();
}

void Exposition::add_series(std::string_view name, const Labels& labels) {
    auto& known = index_.find(name)->second;
    if (!known.series.insert(series_key(labels)).second)
        throw std::invalid_argument(
            fmt::format("{}: a sample with these labels given twice", name));
}

void Exposition::add(std::string_view name, Type type, std::string_view help, const Labels& labels,
                     double value) {
    if (type == Type::Histogram)
        throw std::invalid_argument(fmt::format("{}: use histogram() for histograms", name));
    auto& f = family(name, type, help, labels);
    add_series(name, labels);
    prometheus::ClientMetric metric;
    metric.label = to_client_labels(labels);
    if (type == Type::Counter)
        metric.counter.value = value;
    else
        metric.gauge.value = value;
    f.metric.push_back(std::move(metric));
}

void Exposition::histogram(std::string_view name, std::string_view help, const Labels& labels,
                           const std::vector<double>& bounds,
                           const std::vector<std::uint64_t>& counts, double sum) {
    check_bounds(name, bounds);
    if (counts.size() != bounds.size() + 1)
        throw std::invalid_argument(
            fmt::format("{}: {} bucket counts for {} bounds", name, counts.size(), bounds.size()));
    auto& f = family(name, Type::Histogram, help, labels);
    add_series(name, labels);
    prometheus::ClientMetric metric;
    metric.label = to_client_labels(labels);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        cumulative += counts[i];
        metric.histogram.bucket.push_back({cumulative, bounds[i]});
    }
    metric.histogram.sample_count = cumulative + counts.back();
    metric.histogram.sample_sum = sum;
    f.metric.push_back(std::move(metric));
}

void Exposition::adopt(std::vector<prometheus::MetricFamily> families) {
    for (auto& f : families) {
        if (index_.contains(f.name))
            throw std::invalid_argument(fmt::format("{}: family given twice", f.name));
        index_.emplace(f.name, Known{families_.size(), {}});
        families_.push_back(std::move(f));
    }
}

bool Exposition::has_family(std::string_view name) const {
    return index_.contains(name);
}

std::string Exposition::text() const {
    return prometheus::TextSerializer().Serialize(families_);
}

// --- Registry -----------------------------------------------------------------------------

template <typename Metric>
prometheus::Family<Metric>& Registry::family(std::string_view name, std::string_view help,
                                             const Labels& labels,
                                             const std::vector<double>& bounds) {
    constexpr Type type = std::is_same_v<Metric, prometheus::Counter> ? Type::Counter
                          : std::is_same_v<Metric, prometheus::Gauge> ? Type::Gauge
                                                                      : Type::Histogram;
    check_name(name);
    check_labels(name, type, labels);
    if (type == Type::Histogram) check_bounds(name, bounds);
    const auto escaped = escape_help(help);
    if (auto found = known_.find(name); found != known_.end()) {
        auto* existing = std::get_if<prometheus::Family<Metric>*>(&found->second.family);
        if (existing == nullptr || found->second.help != escaped)
            throw std::invalid_argument(
                fmt::format("{}: registered before with another type or help", name));
        if (found->second.bounds != bounds)
            throw std::invalid_argument(
                fmt::format("{}: registered before with other buckets", name));
        return **existing;
    }
    auto& created = prometheus::detail::Builder<Metric>()
                        .Name(std::string(name))
                        .Help(escaped)
                        .Register(registry_);
    known_.emplace(std::string(name), Known{escaped, bounds, &created});
    return created;
}

namespace {
std::map<std::string, std::string> to_label_map(const Labels& labels) {
    return {labels.begin(), labels.end()};
}
}  // namespace

prometheus::Counter& Registry::counter(std::string_view name, std::string_view help,
                                       const Labels& labels) {
    return family<prometheus::Counter>(name, help, labels, {}).Add(to_label_map(labels));
}

prometheus::Gauge& Registry::gauge(std::string_view name, std::string_view help,
                                   const Labels& labels) {
    return family<prometheus::Gauge>(name, help, labels, {}).Add(to_label_map(labels));
}

prometheus::Histogram& Registry::histogram(std::string_view name, std::string_view help,
                                           std::vector<double> bounds, const Labels& labels) {
    return family<prometheus::Histogram>(name, help, labels, bounds)
        .Add(to_label_map(labels), bounds);
}

void Registry::add_collector(Collector collector) {
    collectors_.push_back(std::move(collector));
}

std::string Registry::render() const {
    auto own = registry_.Collect();
    // prometheus-cpp keeps a family's children in a hash map: sorted, a scrape lists them
    // in the same order every time.
    for (auto& f : own)
        std::ranges::sort(f.metric, {}, &prometheus::ClientMetric::label);
    Exposition out;
    out.adopt(std::move(own));
    for (const auto& collect : collectors_)
        collect(out);
    return out.text();
}

}  // namespace natctl::metrics
