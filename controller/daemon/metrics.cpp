#include "controller/daemon/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

namespace natctl::metrics {
namespace {

bool name_char(char c, bool first, bool colon) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    return alpha || (colon && c == ':') || (!first && digit);
}

// `{a="x",b="y"}`, or "" without labels; `extra` (a histogram's le) goes last.
std::string render_labels(const Labels& labels, const Labels& extra = {}) {
    if (labels.empty() && extra.empty()) return {};
    std::string out = "{";
    bool first = true;
    for (const auto* set : {&labels, &extra}) {
        for (const auto& [name, value] : *set) {
            if (!first) out += ',';
            first = false;
            out += fmt::format("{}=\"{}\"", name, escape_label_value(value));
        }
    }
    out += '}';
    return out;
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

}  // namespace

const char* to_string(Type type) {
    switch (type) {
        case Type::Counter:
            return "counter";
        case Type::Gauge:
            return "gauge";
        case Type::Histogram:
            return "histogram";
    }
    return "untyped";
}

bool valid_metric_name(std::string_view name) {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (!name_char(name[i], i == 0, true)) return false;
    return true;
}

bool valid_label_name(std::string_view name) {
    if (name.empty() || name.starts_with("__")) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (!name_char(name[i], i == 0, false)) return false;
    return true;
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

std::string escape_label_value(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string format_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", value);
}

// --- Exposition -------------------------------------------------------------------------

Exposition::Family& Exposition::family(std::string_view name, Type type, std::string_view help,
                                       const Labels& labels) {
    if (!valid_metric_name(name))
        throw std::invalid_argument(fmt::format("invalid metric name '{}'", name));
    check_labels(name, type, labels);
    if (auto found = index_.find(name); found != index_.end()) {
        auto& existing = families_[found->second];
        if (existing.type != type || existing.help != help)
            throw std::invalid_argument(
                fmt::format("{}: type or help differs from its earlier samples", name));
        return existing;
    }
    index_.emplace(std::string(name), families_.size());
    families_.push_back(Family{std::string(name), type, std::string(help), {}, {}});
    return families_.back();
}

void Exposition::add(std::string_view name, Type type, std::string_view help, const Labels& labels,
                     double value) {
    if (type == Type::Histogram)
        throw std::invalid_argument(fmt::format("{}: use histogram() for histograms", name));
    auto& f = family(name, type, help, labels);
    auto series = render_labels(labels);
    if (!f.series.insert(series).second)
        throw std::invalid_argument(fmt::format("{}{}: sample given twice", name, series));
    f.lines.push_back(fmt::format("{}{} {}", name, series, format_value(value)));
}

void Exposition::histogram(std::string_view name, std::string_view help, const Labels& labels,
                           const std::vector<double>& bounds,
                           const std::vector<std::uint64_t>& counts, double sum) {
    check_bounds(name, bounds);
    if (counts.size() != bounds.size() + 1)
        throw std::invalid_argument(
            fmt::format("{}: {} bucket counts for {} bounds", name, counts.size(), bounds.size()));
    auto& f = family(name, Type::Histogram, help, labels);
    auto series = render_labels(labels);
    if (!f.series.insert(series).second)
        throw std::invalid_argument(fmt::format("{}{}: sample given twice", name, series));
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        auto le = i < bounds.size() ? format_value(bounds[i]) : std::string("+Inf");
        f.lines.push_back(
            fmt::format("{}_bucket{} {}", name, render_labels(labels, {{"le", le}}), cumulative));
    }
    f.lines.push_back(fmt::format("{}_sum{} {}", name, series, format_value(sum)));
    f.lines.push_back(fmt::format("{}_count{} {}", name, series, cumulative));
}

bool Exposition::has_family(std::string_view name) const {
    return index_.contains(name);
}

std::string Exposition::text() const {
    std::string out;
    for (const auto& f : families_) {
        if (!f.help.empty()) out += fmt::format("# HELP {} {}\n", f.name, escape_help(f.help));
        out += fmt::format("# TYPE {} {}\n", f.name, to_string(f.type));
        for (const auto& line : f.lines) {
            out += line;
            out += '\n';
        }
    }
    return out;
}

// --- Metrics ------------------------------------------------------------------------------

void Counter::inc(double amount) {
    if (!(amount >= 0)) throw std::invalid_argument("a counter only goes up");
    value_ += amount;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {
    check_bounds("histogram", bounds_);
}

void Histogram::observe(double value) {
    // le is inclusive: a value equal to a bound falls into that bound's bucket
    auto bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
    ++counts_[static_cast<std::size_t>(bucket)];
    sum_ += value;
    ++count_;
}

std::vector<double> latency_buckets() {
    return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

// --- Registry -----------------------------------------------------------------------------

Registry::Family& Registry::family(std::string_view name, Type type, std::string_view help,
                                   const Labels& labels, std::string& key) {
    if (!valid_metric_name(name))
        throw std::invalid_argument(fmt::format("invalid metric name '{}'", name));
    check_labels(name, type, labels);
    key = render_labels(labels);
    auto found = families_.find(name);
    if (found == families_.end()) {
        order_.emplace_back(name);
        found = families_.emplace(std::string(name), Family{type, std::string(help)}).first;
    } else if (found->second.type != type || found->second.help != help) {
        throw std::invalid_argument(
            fmt::format("{}: registered before with another type or help", name));
    }
    found->second.labels.emplace(key, labels);
    return found->second;
}

Counter& Registry::counter(std::string_view name, std::string_view help, const Labels& labels) {
    std::string key;
    auto& f = family(name, Type::Counter, help, labels, key);
    auto& slot = f.counters[key];
    if (!slot) slot = std::make_unique<Counter>();
    return *slot;
}

Gauge& Registry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
    std::string key;
    auto& f = family(name, Type::Gauge, help, labels, key);
    auto& slot = f.gauges[key];
    if (!slot) slot = std::make_unique<Gauge>();
    return *slot;
}

Histogram& Registry::histogram(std::string_view name, std::string_view help,
                               std::vector<double> bounds, const Labels& labels) {
    check_bounds(name, bounds);
    std::string key;
    auto& f = family(name, Type::Histogram, help, labels, key);
    if (f.histograms.empty())
        f.bounds = bounds;
    else if (f.bounds != bounds)
        throw std::invalid_argument(fmt::format("{}: registered before with other buckets", name));
    auto& slot = f.histograms[key];
    if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
    return *slot;
}

void Registry::add_collector(Collector collector) {
    collectors_.push_back(std::move(collector));
}

std::string Registry::render() const {
    Exposition out;
    for (const auto& name : order_) {
        const auto& f = families_.find(name)->second;
        for (const auto& [key, labels] : f.labels) {
            switch (f.type) {
                case Type::Counter:
                    out.counter(name, f.help, labels, f.counters.at(key)->value());
                    break;
                case Type::Gauge:
                    out.gauge(name, f.help, labels, f.gauges.at(key)->value());
                    break;
                case Type::Histogram: {
                    const auto& h = *f.histograms.at(key);
                    out.histogram(name, f.help, labels, h.bounds(), h.counts(), h.sum());
                    break;
                }
            }
        }
    }
    for (const auto& collect : collectors_)
        collect(out);
    return out.text();
}

}  // namespace natctl::metrics
