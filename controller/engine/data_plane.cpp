#include "controller/engine/data_plane.hpp"

namespace natctl::engine {

std::expected<KernelChange, util::Error> DataPlane::apply_change(
    const model::Model& before, const model::DnatEntryChange& change,
    const model::DnatChangeIndex&) {
    model::Model after = before;
    model::apply(after, change);
    return apply(after);
}

std::expected<KernelChange, util::Error> DataPlane::apply_change(
    const model::Model& before, const model::SnatEntryChange& change) {
    model::Model after = before;
    model::apply(after, change);
    return apply(after);
}

}  // namespace natctl::engine
