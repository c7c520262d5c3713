#include "controller/daemon/metrics_lint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "controller/daemon/metrics.hpp"

namespace natctl::metrics {
namespace {

struct Sample {
    std::string name;
    std::vector<std::pair<std::string, std::string>> labels;  // unescaped
    double value = 0;
};

std::optional<double> parse_float(std::string_view text) {
    if (text == "NaN" || text == "Nan" || text == "nan") return std::nan("");
    if (text == "+Inf" || text == "Inf" || text == "+inf" || text == "inf") return HUGE_VAL;
    if (text == "-Inf" || text == "-inf") return -HUGE_VAL;
    // [+-]digits[.digits][e[+-]digits], with at least one digit in the mantissa
    std::size_t i = 0;
    auto digits = [&] {
        std::size_t start = i;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9')
            ++i;
        return i - start;
    };
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    std::size_t mantissa = digits();
    if (i < text.size() && text[i] == '.') {
        ++i;
        mantissa += digits();
    }
    if (mantissa == 0) return std::nullopt;
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
        if (digits() == 0) return std::nullopt;
    }
    if (i != text.size()) return std::nullopt;
    return std::strtod(std::string(text).c_str(), nullptr);
}

std::string_view metric_name_prefix(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok) break;
        ++i;
    }
    return text.substr(0, i);
}

// Parses `name{a="x",...} value [timestamp]`; an error message on failure.
std::optional<std::string> parse_sample(std::string_view line, Sample& out) {
    auto name = metric_name_prefix(line);
    if (name.empty()) return "a sample line must start with a metric name";
    out.name = std::string(name);
    std::size_t i = name.size();
    if (i < line.size() && line[i] == '{') {
        ++i;
        while (true) {
            if (i < line.size() && line[i] == '}') {
                ++i;
                break;
            }
            std::size_t start = i;
            while (i < line.size() && line[i] != '=' && line[i] != '}' && line[i] != ',')
                ++i;
            auto label = line.substr(start, i - start);
            if (!valid_label_name(label)) return fmt::format("invalid label name '{}'", label);
            if (i >= line.size() || line[i] != '=') return "expected '=' after a label name";
            ++i;
            if (i >= line.size() || line[i] != '"') return "a label value must be quoted";
            ++i;
            std::string value;
            bool closed = false;
            while (i < line.size()) {
                char c = line[i++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\') {
                    if (i >= line.size()) return "unterminated escape in a label value";
                    char e = line[i++];
                    if (e == '\\')
                        value += '\\';
                    else if (e == '"')
                        value += '"';
                    else if (e == 'n')
                        value += '\n';
                    else
                        return fmt::format("invalid escape '\\{}' in a label value", e);
                } else {
                    value += c;
                }
            }
            if (!closed) return "unterminated label value";
            for (const auto& [seen, v] : out.labels)
                if (seen == label) return fmt::format("label '{}' given twice", label);
            out.labels.emplace_back(std::string(label), std::move(value));
            if (i < line.size() && line[i] == ',') {
                ++i;
                continue;
            }
            if (i < line.size() && line[i] == '}') {
                ++i;
                break;
            }
            return "expected ',' or '}' after a label value";
        }
    }
    if (i >= line.size() || line[i] != ' ') return "expected a space before the value";
    auto rest = line.substr(i + 1);
    auto space = rest.find(' ');
    auto value = parse_float(rest.substr(0, space));
    if (!value) return fmt::format("invalid value '{}'", rest.substr(0, space));
    out.value = *value;
    if (space != std::string_view::npos) {
        auto ts = rest.substr(space + 1);
        if (ts.starts_with('-')) ts.remove_prefix(1);
        if (ts.empty() || !std::ranges::all_of(ts, [](char c) { return c >= '0' && c <= '9'; }))
            return fmt::format("invalid timestamp '{}'", rest.substr(space + 1));
    }
    return std::nullopt;
}

struct FamilyState {
    std::string type = "untyped";
    bool typed = false;
    bool helped = false;
    bool has_samples = false;
    bool closed = false;  // another family's samples came after this one's
    std::size_t first_line = 0;
};

struct HistogramGroup {
    std::vector<std::pair<double, double>> buckets;  // le, cumulative count
    std::optional<double> count;
    bool sum = false;
    std::size_t line = 0;
};

std::string series_key(const Sample& s, std::string_view skip = {}) {
    auto labels = s.labels;
    std::erase_if(labels, [&](const auto& l) { return !skip.empty() && l.first == skip; });
    std::ranges::sort(labels);
    std::string key;
    for (const auto& [n, v] : labels)
        key += fmt::format("{}=\"{}\",", n, escape_label_value(v));
    return key;
}

}  // namespace

std::vector<std::string> lint_exposition(std::string_view text) {
    std::vector<std::string> problems;
    auto problem = [&](std::size_t line, std::string message) {
        problems.push_back(fmt::format("line {}: {}", line, std::move(message)));
    };
    if (!text.empty() && !text.ends_with('\n')) problems.push_back("the text must end with \\n");

    std::map<std::string, FamilyState> families;
    std::map<std::string, std::map<std::string, HistogramGroup>> histograms;
    std::set<std::string> series;
    std::set<std::string> unannounced;  // families with samples but no HELP / TYPE, reported
    std::string current;                // the family of the last sample

    auto family_of = [&](const std::string& name) -> std::string {
        for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
            if (!name.ends_with(suffix)) continue;
            auto base = name.substr(0, name.size() - suffix.size());
            auto found = families.find(base);
            if (found != families.end() &&
                (found->second.type == "histogram" || found->second.type == "summary"))
                return base;
        }
        return name;
    };

    std::size_t number = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        auto line = text.substr(pos, end - pos);
        pos = end + 1;
        ++number;
        if (line.empty()) continue;
        if (line.starts_with('#')) {
            std::string_view rest = line.substr(1);
            bool help = rest.starts_with(" HELP ");
            bool type = rest.starts_with(" TYPE ");
            if (!help && !type) continue;  // a plain comment
            rest.remove_prefix(6);
            auto name_end = rest.find(' ');
            std::string name(rest.substr(0, name_end));
            if (!valid_metric_name(name)) {
                problem(number, fmt::format("invalid metric name '{}'", name));
                continue;
            }
            std::string_view arg =
                name_end == std::string_view::npos ? std::string_view{} : rest.substr(name_end + 1);
            auto& f = families[name];
            if (f.first_line == 0) f.first_line = number;
            if (f.has_samples)
                problem(number,
                        fmt::format("{} for {} after its samples", help ? "HELP" : "TYPE", name));
            if (help) {
                if (f.helped) problem(number, fmt::format("second HELP for {}", name));
                f.helped = true;
                for (std::size_t i = 0; i < arg.size(); ++i) {
                    if (arg[i] != '\\') continue;
                    if (i + 1 >= arg.size() || (arg[i + 1] != '\\' && arg[i + 1] != 'n'))
                        problem(number, fmt::format("invalid escape in the HELP of {}", name));
                    ++i;
                }
                if (arg.empty()) problem(number, fmt::format("{} has no help text", name));
            } else {
                if (f.typed) problem(number, fmt::format("second TYPE for {}", name));
                static const std::set<std::string_view> kTypes = {"counter", "gauge", "histogram",
                                                                  "summary", "untyped"};
                if (!kTypes.contains(arg))
                    problem(number, fmt::format("unknown type '{}' for {}", arg, name));
                f.typed = true;
                f.type = std::string(arg);
                if (f.type == "counter" && !name.ends_with("_total"))
                    problem(number, fmt::format("counter {} should have the suffix _total", name));
            }
            continue;
        }
        Sample sample;
        if (auto error = parse_sample(line, sample)) {
            problem(number, *error);
            continue;
        }
        auto base = family_of(sample.name);
        auto& f = families[base];
        if (f.first_line == 0) f.first_line = number;
        if (f.closed)
            problem(number,
                    fmt::format("sample of {} apart from the family's other samples", base));
        if (!current.empty() && current != base) families[current].closed = true;
        current = base;
        f.has_samples = true;
        if (!f.helped && !f.typed && unannounced.insert(base).second)
            problem(number, fmt::format("{} has no HELP or TYPE", base));
        if (!series.insert(sample.name + "{" + series_key(sample) + "}").second)
            problem(number,
                    fmt::format("duplicate series {}{{{}}}", sample.name, series_key(sample)));
        if (f.type == "counter") {
            if (sample.name != base)
                problem(number, fmt::format("sample {} of counter {}", sample.name, base));
            if (!(sample.value >= 0)) problem(number, fmt::format("counter {} negative", base));
        }
        if (f.type == "histogram") {
            auto& group = histograms[base][series_key(sample, "le")];
            if (group.line == 0) group.line = number;
            if (sample.name == base + "_bucket") {
                auto le = std::ranges::find(sample.labels, std::string("le"),
                                            &std::pair<std::string, std::string>::first);
                std::optional<double> bound;
                if (le != sample.labels.end()) bound = parse_float(le->second);
                if (!bound || std::isnan(*bound)) {
                    problem(number, fmt::format("bucket of {} without a valid le", base));
                } else {
                    if (!group.buckets.empty() && *bound <= group.buckets.back().first)
                        problem(number, fmt::format("le of {} not increasing", base));
                    if (!group.buckets.empty() && sample.value < group.buckets.back().second)
                        problem(number, fmt::format("buckets of {} not cumulative", base));
                    group.buckets.emplace_back(*bound, sample.value);
                }
            } else if (sample.name == base + "_count") {
                group.count = sample.value;
            } else if (sample.name == base + "_sum") {
                group.sum = true;
            } else {
                problem(number, fmt::format("sample {} of histogram {}", sample.name, base));
            }
        }
    }
    for (const auto& [name, groups] : histograms) {
        for (const auto& [labels, group] : groups) {
            if (group.buckets.empty() || !std::isinf(group.buckets.back().first)) {
                problem(group.line,
                        fmt::format("histogram {}{{{}}} without a +Inf bucket", name, labels));
                continue;
            }
            if (!group.count || *group.count != group.buckets.back().second)
                problem(group.line,
                        fmt::format("histogram {}{{{}}}: _count differs from the +Inf bucket", name,
                                    labels));
            if (!group.sum)
                problem(group.line, fmt::format("histogram {}{{{}}} without _sum", name, labels));
        }
    }
    for (const auto& [name, f] : families) {
        if (!f.helped && f.has_samples && f.typed)
            problem(f.first_line, fmt::format("{} has no HELP", name));
    }
    return problems;
}

}  // namespace natctl::metrics
