// A store::Store that keeps every revision in memory, for tests of what writes through a
// store (the API, the engine); commit can be told to fail like a full disk.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <expected>
#include <string>
#include <utility>
#include <vector>

#include "controller/model/types.hpp"
#include "controller/store/store.hpp"

namespace natctl::testing {

class MemoryStore : public store::Store {
  public:
    explicit MemoryStore(model::Model initial) {
        history_.push_back({{1, 1700000000, "uid 0", "initial"}, std::move(initial)});
    }
    const model::Model& current() const override { return history_.back().second; }
    std::uint64_t revision() const override { return history_.back().first.revision; }
    std::expected<std::uint64_t, std::string> commit(const model::Model& next,
                                                     const std::string& author,
                                                     const std::string& summary) override {
        if (fail_commit) return std::unexpected(std::string("disk full"));
        const auto next_revision = revision() + 1;
        history_.push_back(
            {{next_revision, 1700000000 + std::int64_t(next_revision), author, summary}, next});
        return next_revision;
    }
    std::vector<store::RevisionInfo> revisions() const override {
        std::vector<store::RevisionInfo> out;
        for (const auto& [info, snapshot] : history_)
            out.push_back(info);
        return out;
    }
    std::expected<model::Model, std::string> model_at(std::uint64_t revision) const override {
        for (const auto& [info, snapshot] : history_)
            if (info.revision == revision) return snapshot;
        return std::unexpected(fmt::format("no revision {}", revision));
    }

    bool fail_commit = false;

  private:
    std::vector<std::pair<store::RevisionInfo, model::Model>> history_;
};

}  // namespace natctl::testing
