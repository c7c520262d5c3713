// An in-memory NftBackend for reconciler tests: it keeps table ip natctl as the kernel
// would, applies a transaction to a copy and commits it only when every operation
// succeeded, and rejects what the kernel rejects (creating what exists, referring to a
// missing set or chain, deleting a missing element, deleting a set or chain still in use)
// with the same errno and the same kind of message as NftSocket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "netlink/nft_transaction.hpp"

namespace natctl::netlink {

class NftFake final : public NftBackend {
  public:
    std::expected<void, NftError> apply(const NftTransaction& transaction) override;
    std::expected<kernel::ObservedTable, NftError> dump() override;

    // The next apply fails at operation `op_index` (0-based) with `error_number`, as if the
    // kernel had rejected that operation; nothing is committed. One-shot.
    void fail_next_apply_at(std::size_t op_index, int error_number);
    // Makes the next dump report lost messages (NftError::Kind::OutcomeUnknown). One-shot.
    void fail_next_dump();
    // The next apply takes effect (or fails as it would) but reports its ACKs lost
    // (NftError::Kind::OutcomeUnknown, ENOBUFS), as NftSocket does. One-shot.
    void lose_next_apply_answer() { lose_apply_answer_ = true; }

    std::size_t applied_transactions() const { return applied_; }

    // What the data plane does on its own, for tests: adds an element to a dynamic set (as
    // a dynset expression would; false if there is no such dynamic set), and counts packets
    // on the counter of a chain's rule (false if that rule has no counter).
    bool fill_dynamic_set(const std::string& set, kernel::Element element);
    bool count_packets(const std::string& chain, std::size_t rule_index, std::uint64_t packets,
                       std::uint64_t bytes = 0);

  private:
    using ElementKey = std::pair<kernel::FieldList, kernel::FieldList>;
    struct FakeSet {
        kernel::Set definition;  // elements kept in `elements` instead
        std::map<ElementKey, kernel::Element> elements;
        std::uint64_t handle = 0;
    };
    struct FakeRule {
        std::uint64_t handle = 0;
        kernel::Rule rule;
        std::uint64_t packets = 0;
        std::uint64_t bytes = 0;
    };
    struct FakeChain {
        kernel::Chain definition;
        std::vector<FakeRule> rules;
        std::uint64_t handle = 0;
    };
    struct FakeTable {
        std::vector<FakeSet> sets;
        std::vector<FakeChain> chains;
        std::uint64_t next_handle = 1;
    };

    std::optional<FakeTable> table_;
    std::optional<std::pair<std::size_t, int>> injected_failure_;
    bool fail_dump_ = false;
    bool lose_apply_answer_ = false;
    std::size_t applied_ = 0;

    std::expected<void, NftError> apply_transaction(const NftTransaction& transaction);
    static std::expected<void, NftError> apply_op(std::optional<FakeTable>& table, const NftOp& op);
};

}  // namespace natctl::netlink
