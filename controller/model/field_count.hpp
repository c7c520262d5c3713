// The number of fields of an aggregate, for checks that fail the build when a field is added
// to a model type that some function lists field by field (a writer, a reader, a copy of the
// fields that are not children). Platform-independent, unlike a sizeof check.
#pragma once

#include <cstddef>
#include <utility>

namespace natctl::model {

namespace detail {

// Converts to any field type: T{AnyField{}...} compiles exactly up to T's field count (no
// brace elision happens, since a nested aggregate is initialised from the conversion).
struct AnyField {
    template <class T>
    operator T() const;
};

template <class T, std::size_t... I>
constexpr bool initialisable_from(std::index_sequence<I...>) {
    return requires {
        T{(void(I), AnyField{})...};
    };
}

}  // namespace detail

template <class T, std::size_t N = 0>
constexpr std::size_t field_count() {
    if constexpr (detail::initialisable_from<T>(std::make_index_sequence<N + 1>{}))
        return field_count<T, N + 1>();
    else
        return N;
}

}  // namespace natctl::model
