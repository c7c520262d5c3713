// Deltas between two JSON documents (the model's JSON form), small for small changes.
//
// A delta is a JSON array of operations applied in order:
//   {"op": "replace", "path": P, "value": V}   the value at P becomes V (P = [] is the root)
//   {"op": "add",     "path": P, "value": V}   P ends in a key (absent before) or an array
//                                              index (insert before it; == size appends)
//   {"op": "remove",  "path": P}               P ends in a key, an index or a name
// A path is an array of segments: a string is an object key, an integer an array index and
// {"name": N} the element of an array of objects whose "name" is N. Names address entries
// the way the model does (by identity), so a one-entry change is one small operation
// whatever the entry's position and the size of the array around it.
#pragma once

#include <expected>
#include <string>

#include <nlohmann/json.hpp>

namespace natctl::store {

// Operations that turn `from` into `to`. Arrays whose elements are objects with unique
// string "name"s are diffed entry by entry (remove, recurse into changed entries, add); any
// other array that differs is replaced whole, as is an array where most entries changed or
// the kept entries were reordered.
nlohmann::json diff(const nlohmann::json& from, const nlohmann::json& to);

// Applies `delta` to `document` in place and returns the delta that undoes it (the inverse of
// each operation, in reverse order). On an error the document may be partly changed; the
// message names the operation and why it does not apply.
std::expected<nlohmann::json, std::string> apply(nlohmann::json& document,
                                                 const nlohmann::json& delta);

}  // namespace natctl::store
