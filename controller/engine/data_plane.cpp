#include "controller/engine/data_plane.hpp"

namespace natctl::engine {

std::expected<KernelChange, util::Error> DataPlane::apply_change(
    const model::Model& before, const model::DnatEntryChange& change,
    const model::DnatChangeIndex&) {
    model::Model after = before;
    model::apply(after, change);
    return apply(after);
}

std::expected<KernelChange, util::Error> DataPlane::apply_without_dnat(
    const model::Model& before, const model::Model&, const model::Model& light_after,
    const model::DnatChangeIndex&) {
    model::Model after = before;
    model::adopt_without_dnat_entries(after, light_after);
    return apply(after);
}

}  // namespace natctl::engine
