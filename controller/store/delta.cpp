#include "controller/store/delta.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace natctl::store {

using nlohmann::json;

namespace {

json op(const char* kind, const json& path) {
    json out = json::object();
    out["op"] = kind;
    out["path"] = path;
    return out;
}

json op(const char* kind, const json& path, json value) {
    json out = op(kind, path);
    out["value"] = std::move(value);
    return out;
}

json name_segment(const std::string& name) {
    json segment = json::object();
    segment["name"] = name;
    return segment;
}

// Name → index when every element is an object with a string "name" and the names are
// unique: only then can entries be matched by identity.
std::optional<std::unordered_map<std::string_view, std::size_t>> names_of(const json& array) {
    std::unordered_map<std::string_view, std::size_t> names;
    names.reserve(array.size());
    for (std::size_t i = 0; i < array.size(); ++i) {
        const json& element = array[i];
        if (!element.is_object()) return std::nullopt;
        auto name = element.find("name");
        if (name == element.end() || !name->is_string()) return std::nullopt;
        if (!names.emplace(name->get_ref<const std::string&>(), i).second) return std::nullopt;
    }
    return names;
}

// An estimate of value's serialised size that stops counting past `budget`: deciding whether
// an entry is small enough to replace whole must not cost a dump of a huge gateway.
bool fits(const json& value, std::size_t& budget) {
    auto take = [&](std::size_t bytes) {
        if (bytes > budget) return false;
        budget -= bytes;
        return true;
    };
    switch (value.type()) {
        case json::value_t::object:
            for (const auto& [key, member] : value.items()) {
                if (!take(key.size() + 4) || !fits(member, budget)) return false;
            }
            return take(2);
        case json::value_t::array:
            for (const auto& element : value) {
                if (!take(1) || !fits(element, budget)) return false;
            }
            return take(2);
        case json::value_t::string:
            return take(value.get_ref<const std::string&>().size() + 2);
        default:
            return take(8);
    }
}

// Above this an entry whose diff has several operations is still diffed field by field;
// below it one replace of the entry is as small and reads better in the journal.
constexpr std::size_t small_entry_bytes = 256;

class Differ {
  public:
    json ops = json::array();

    void value(const json& from, const json& to, json& path) {
        if (from.type() != to.type() || !(from.is_object() || from.is_array())) {
            if (from != to) ops.push_back(op("replace", path, to));
            return;
        }
        if (from.is_object()) {
            object(from, to, path);
        } else if (from != to) {
            array(from, to, path);
        }
    }

  private:
    void object(const json& from, const json& to, json& path) {
        for (const auto& [key, member] : from.items()) {
            path.push_back(key);
            auto other = to.find(key);
            if (other == to.end()) {
                ops.push_back(op("remove", path));
            } else {
                value(member, *other, path);
            }
            path.erase(path.size() - 1);
        }
        for (const auto& [key, member] : to.items()) {
            if (from.contains(key)) continue;
            path.push_back(key);
            ops.push_back(op("add", path, member));
            path.erase(path.size() - 1);
        }
    }

    void array(const json& from, const json& to, json& path) {
        auto from_names = names_of(from);
        auto to_names = from_names ? names_of(to) : std::nullopt;
        if (!from_names || !to_names) {
            ops.push_back(op("replace", path, to));
            return;
        }
        // Adds insert at their final index, which is right only if the kept entries keep
        // their relative order; a reorder is rare enough to pay a whole replace.
        std::vector<std::size_t> kept_from;  // indices in `from` of kept entries, in order
        std::size_t removed = 0;
        for (std::size_t i = 0; i < from.size(); ++i) {
            if (to_names->contains(from[i]["name"].get_ref<const std::string&>())) {
                kept_from.push_back(i);
            } else {
                ++removed;
            }
        }
        std::size_t added = 0;
        std::size_t next_kept = 0;
        for (std::size_t j = 0; j < to.size(); ++j) {
            auto found = from_names->find(to[j]["name"].get_ref<const std::string&>());
            if (found == from_names->end()) {
                ++added;
                continue;
            }
            if (next_kept >= kept_from.size() || kept_from[next_kept] != found->second) {
                ops.push_back(op("replace", path, to));
                return;
            }
            ++next_kept;
        }
        // Mostly new content: one replace is smaller than an operation per entry.
        if (removed + added > kept_from.size()) {
            ops.push_back(op("replace", path, to));
            return;
        }
        for (std::size_t i = 0; i < from.size(); ++i) {
            const auto& name = from[i]["name"].get_ref<const std::string&>();
            if (to_names->contains(name)) continue;
            path.push_back(name_segment(name));
            ops.push_back(op("remove", path));
            path.erase(path.size() - 1);
        }
        for (std::size_t i : kept_from) {
            const auto& name = from[i]["name"].get_ref<const std::string&>();
            const json& target = to[to_names->at(name)];
            if (from[i] == target) continue;
            path.push_back(name_segment(name));
            entry(from[i], target, path);
            path.erase(path.size() - 1);
        }
        for (std::size_t j = 0; j < to.size(); ++j) {
            if (from_names->contains(to[j]["name"].get_ref<const std::string&>())) continue;
            path.push_back(j);
            ops.push_back(op("add", path, to[j]));
            path.erase(path.size() - 1);
        }
    }

    void entry(const json& from, const json& to, json& path) {
        Differ inner;
        inner.value(from, to, path);
        std::size_t budget = small_entry_bytes;
        if (inner.ops.size() > 1 && fits(to, budget)) {
            ops.push_back(op("replace", path, to));
            return;
        }
        for (auto& inner_op : inner.ops)
            ops.push_back(std::move(inner_op));
    }
};

std::string show_path(const json& path) {
    if (path.empty()) return "/";
    std::string text;
    for (const auto& segment : path) {
        if (segment.is_string()) {
            text += "/" + segment.get<std::string>();
        } else if (segment.is_object()) {
            text += "/{name=" + segment.value("name", std::string()) + "}";
        } else {
            text += "/" + segment.dump();
        }
    }
    return text;
}

// Index of the array element a {"name": N} segment designates.
std::expected<std::size_t, std::string> find_named(const json& array, const json& segment) {
    if (!array.is_array()) return std::unexpected("not an array");
    auto name = segment.find("name");
    if (segment.size() != 1 || name == segment.end() || !name->is_string())
        return std::unexpected("malformed name segment " + segment.dump());
    for (std::size_t i = 0; i < array.size(); ++i) {
        const json& element = array[i];
        if (element.is_object()) {
            auto own = element.find("name");
            if (own != element.end() && *own == *name) return i;
        }
    }
    return std::unexpected(fmt::format("no element named {}", name->dump()));
}

std::expected<std::size_t, std::string> index_of(const json& array, const json& segment,
                                                 std::size_t limit) {
    if (!array.is_array()) return std::unexpected("not an array");
    if (!segment.is_number_unsigned() && !segment.is_number_integer())
        return std::unexpected("malformed index " + segment.dump());
    if (segment.is_number_integer() && segment.get<std::int64_t>() < 0)
        return std::unexpected("negative index");
    auto index = segment.get<std::size_t>();
    if (index >= limit) return std::unexpected(fmt::format("index {} out of range", index));
    return index;
}

// The element one segment designates inside `parent`.
std::expected<json*, std::string> child(json& parent, const json& segment) {
    if (segment.is_string()) {
        if (!parent.is_object()) return std::unexpected("not an object");
        auto found = parent.find(segment.get_ref<const std::string&>());
        if (found == parent.end())
            return std::unexpected(fmt::format("no member {}", segment.dump()));
        return &*found;
    }
    if (segment.is_object()) {
        auto index = find_named(parent, segment);
        if (!index) return std::unexpected(index.error());
        return &parent[*index];
    }
    auto index = index_of(parent, segment, parent.is_array() ? parent.size() : 0);
    if (!index) return std::unexpected(index.error());
    return &parent[*index];
}

std::expected<json, std::string> apply_one(json& document, const json& operation) {
    if (!operation.is_object()) return std::unexpected("not an object");
    auto kind_it = operation.find("op");
    auto path_it = operation.find("path");
    if (kind_it == operation.end() || !kind_it->is_string() || path_it == operation.end() ||
        !path_it->is_array())
        return std::unexpected("missing op or path");
    const std::string& kind = kind_it->get_ref<const std::string&>();
    const json& path = *path_it;
    auto value_it = operation.find("value");
    bool needs_value = kind == "replace" || kind == "add";
    if (kind != "replace" && kind != "add" && kind != "remove")
        return std::unexpected(fmt::format("unknown op {}", kind_it->dump()));
    if (needs_value && value_it == operation.end()) return std::unexpected("missing value");

    if (path.empty()) {
        if (kind != "replace") return std::unexpected(kind + " at the root");
        json old = std::move(document);
        document = *value_it;
        return op("replace", path, std::move(old));
    }
    json* parent = &document;
    for (std::size_t i = 0; i + 1 < path.size(); ++i) {
        auto next = child(*parent, path[i]);
        if (!next) return std::unexpected(next.error());
        parent = *next;
    }
    const json& last = path.back();
    if (kind == "replace") {
        auto target = child(*parent, last);
        if (!target) return std::unexpected(target.error());
        json old = std::move(**target);
        **target = *value_it;
        return op("replace", path, std::move(old));
    }
    if (kind == "add") {
        if (last.is_string()) {
            if (!parent->is_object()) return std::unexpected("not an object");
            if (parent->contains(last.get_ref<const std::string&>()))
                return std::unexpected(fmt::format("member {} exists already", last.dump()));
            (*parent)[last.get_ref<const std::string&>()] = *value_it;
            return op("remove", path);
        }
        auto index = index_of(*parent, last, parent->is_array() ? parent->size() + 1 : 0);
        if (!index) return std::unexpected(index.error());
        parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(*index), *value_it);
        return op("remove", path);
    }
    // remove
    if (last.is_string()) {
        if (!parent->is_object()) return std::unexpected("not an object");
        auto found = parent->find(last.get_ref<const std::string&>());
        if (found == parent->end())
            return std::unexpected(fmt::format("no member {}", last.dump()));
        json old = std::move(*found);
        parent->erase(found);
        return op("add", path, std::move(old));
    }
    auto index = last.is_object()
                     ? find_named(*parent, last)
                     : index_of(*parent, last, parent->is_array() ? parent->size() : 0);
    if (!index) return std::unexpected(index.error());
    json old = std::move((*parent)[*index]);
    parent->erase(*index);
    // The inverse re-inserts by position: the element's name is gone from the array, and the
    // position restores the exact order.
    json inverse_path = path;
    inverse_path.back() = *index;
    return op("add", inverse_path, std::move(old));
}

}  // namespace

json diff(const json& from, const json& to) {
    Differ differ;
    json path = json::array();
    differ.value(from, to, path);
    return std::move(differ.ops);
}

std::expected<json, std::string> apply(json& document, const json& delta) {
    if (!delta.is_array()) return std::unexpected("delta is not an array");
    std::vector<json> inverses;
    inverses.reserve(delta.size());
    for (std::size_t i = 0; i < delta.size(); ++i) {
        auto inverse = apply_one(document, delta[i]);
        if (!inverse) {
            const json& operation = delta[i];
            std::string where = operation.is_object() && operation.contains("path")
                                    ? show_path(operation["path"])
                                    : std::string("?");
            return std::unexpected(fmt::format(
                "operation {} ({} {}): {}", i + 1,
                operation.is_object() ? operation.value("op", "?") : "?", where, inverse.error()));
        }
        inverses.push_back(std::move(*inverse));
    }
    json reverse = json::array();
    for (auto it = inverses.rbegin(); it != inverses.rend(); ++it)
        reverse.push_back(std::move(*it));
    return reverse;
}

}  // namespace natctl::store
