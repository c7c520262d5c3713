#include "tests/support/nft_fake.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "netlink/nft_encode.hpp"
#include "netlink/nft_readback.hpp"

namespace natctl::netlink {

namespace {

std::unexpected<NftError> rejected(int error_number, const std::string& what) {
    return std::unexpected(NftError{NftError::Kind::Kernel, error_number,
                                    fmt::format("{}: {}", what, util::errno_text(error_number))});
}

template <typename Range>
auto find_named(Range& range, const std::string& name, auto name_of) {
    return std::find_if(range.begin(), range.end(),
                        [&](const auto& item) { return name_of(item) == name; });
}

bool is_verdict_map(const kernel::Set& set) {
    return set.data.size() == 1 && set.data.front() == kernel::FieldType::Verdict;
}

// The chains a rule jumps to and the named sets it looks up.
void rule_references(const kernel::Rule& rule, std::vector<std::string>& chains,
                     std::vector<std::string>& sets) {
    for (const auto& expr : rule.exprs) {
        if (const auto* immediate = std::get_if<kernel::Immediate>(&expr)) {
            if (immediate->verdict && !immediate->verdict->chain.empty())
                chains.push_back(immediate->verdict->chain);
        } else if (const auto* lookup = std::get_if<kernel::Lookup>(&expr)) {
            if (!lookup->anonymous_index) sets.push_back(lookup->set_name);
        } else if (const auto* dynset = std::get_if<kernel::Dynset>(&expr)) {
            sets.push_back(dynset->set_name);
        }
    }
    for (const auto& anonymous : rule.anonymous_sets)
        for (const auto& element : anonymous.elements)
            if (element.verdict && !element.verdict->chain.empty())
                chains.push_back(element.verdict->chain);
}

bool has_counter(const kernel::Rule& rule) {
    return std::any_of(rule.exprs.begin(), rule.exprs.end(), [](const kernel::Expr& expr) {
        return std::holds_alternative<kernel::Counter>(expr);
    });
}

}  // namespace

void NftFake::fail_next_apply_at(std::size_t op_index, int error_number) {
    injected_failure_ = std::make_pair(op_index, error_number);
}

void NftFake::fail_next_dump() {
    fail_dump_ = true;
}

bool NftFake::fill_dynamic_set(const std::string& set, kernel::Element element) {
    if (!table_) return false;
    for (auto& candidate : table_->sets) {
        if (candidate.definition.name != set || !candidate.definition.dynamic) continue;
        element = normalize_element(candidate.definition, std::move(element));
        ElementKey key{element.key, element.key_end};
        candidate.elements.insert_or_assign(std::move(key), std::move(element));
        return true;
    }
    return false;
}

bool NftFake::count_packets(const std::string& chain, std::size_t rule_index, std::uint64_t packets,
                            std::uint64_t bytes) {
    if (!table_) return false;
    for (auto& candidate : table_->chains) {
        if (candidate.definition.name != chain || rule_index >= candidate.rules.size()) continue;
        auto& rule = candidate.rules[rule_index];
        if (!has_counter(rule.rule)) return false;
        rule.packets += packets;
        rule.bytes += bytes;
        return true;
    }
    return false;
}

std::expected<void, NftError> NftFake::apply(const NftTransaction& transaction) {
    const bool lose_answer = std::exchange(lose_apply_answer_, false);
    auto answer = apply_transaction(transaction);
    if (!lose_answer) return answer;
    return std::unexpected(NftError{NftError::Kind::OutcomeUnknown, ENOBUFS,
                                    fmt::format("the kernel acknowledged 0 of {} messages (ACKs "
                                                "lost: ENOBUFS); re-read its state",
                                                transaction.ops().size())});
}

std::expected<void, NftError> NftFake::apply_transaction(const NftTransaction& transaction) {
    auto injected = std::exchange(injected_failure_, std::nullopt);
    auto copy = table_;
    const auto& ops = transaction.ops();
    for (std::size_t index = 0; index < ops.size(); ++index) {
        if (injected && injected->first == index)
            return rejected(injected->second, describe_op(ops[index]));
        if (auto result = apply_op(copy, ops[index]); !result) return result;
    }
    table_ = std::move(copy);
    ++applied_;
    return {};
}

std::expected<void, NftError> NftFake::apply_op(std::optional<FakeTable>& table, const NftOp& op) {
    auto what = describe_op(op);
    if (op.kind == NftOp::Kind::AddTable) {
        if (!table) table = FakeTable{};
        return {};
    }
    if (!table) return rejected(ENOENT, what);
    auto set_name = [](const FakeSet& set) -> const std::string& { return set.definition.name; };
    auto chain_name = [](const FakeChain& chain) -> const std::string& {
        return chain.definition.name;
    };
    auto chain_exists = [&](const std::string& name) {
        return find_named(table->chains, name, chain_name) != table->chains.end();
    };
    auto check_elements = [&](const kernel::Set& set, const kernel::Element& element,
                              const std::string& owner) -> std::expected<void, NftError> {
        if (is_verdict_map(set)) {
            if (!element.verdict)
                return rejected(
                    EINVAL, fmt::format("{}: element {}", owner, describe_element(set, element)));
            if (!element.verdict->chain.empty() && !chain_exists(element.verdict->chain))
                return rejected(
                    ENOENT, fmt::format("{}: element {}", owner, describe_element(set, element)));
        }
        return {};
    };
    auto add_elements = [&](FakeSet& target, const kernel::Set& source,
                            const std::string& owner) -> std::expected<void, NftError> {
        for (const auto& raw : source.elements) {
            auto element = normalize_element(target.definition, raw);
            if (auto checked = check_elements(target.definition, element, owner); !checked)
                return checked;
            ElementKey key{element.key, element.key_end};
            if (!target.elements.emplace(key, element).second)
                return rejected(EEXIST, fmt::format("{}: element {}", owner,
                                                    describe_element(target.definition, element)));
        }
        return {};
    };

    switch (op.kind) {
        case NftOp::Kind::AddTable:
            return {};
        case NftOp::Kind::DeleteTable:
            table.reset();
            return {};
        case NftOp::Kind::AddSet: {
            if (find_named(table->sets, op.set.name, set_name) != table->sets.end())
                return rejected(EEXIST, what);
            FakeSet set{op.set, {}, table->next_handle++};
            set.definition.elements.clear();
            if (auto added = add_elements(set, op.set, fmt::format("set {}", op.set.name)); !added)
                return added;
            table->sets.push_back(std::move(set));
            return {};
        }
        case NftOp::Kind::DeleteSet: {
            auto found = find_named(table->sets, op.set.name, set_name);
            if (found == table->sets.end()) return rejected(ENOENT, what);
            for (const auto& chain : table->chains)
                for (const auto& rule : chain.rules) {
                    std::vector<std::string> chains, sets;
                    rule_references(rule.rule, chains, sets);
                    if (std::find(sets.begin(), sets.end(), op.set.name) != sets.end())
                        return rejected(EBUSY, what);
                }
            table->sets.erase(found);
            return {};
        }
        case NftOp::Kind::AddElements:
        case NftOp::Kind::DeleteElements: {
            auto found = find_named(table->sets, op.set.name, set_name);
            if (found == table->sets.end()) return rejected(ENOENT, what);
            if (op.kind == NftOp::Kind::AddElements) return add_elements(*found, op.set, what);
            for (const auto& raw : op.set.elements) {
                auto element = normalize_element(found->definition, raw);
                if (found->elements.erase(ElementKey{element.key, element.key_end}) == 0)
                    return rejected(ENOENT,
                                    fmt::format("{}: element {}", what,
                                                describe_element(found->definition, element)));
            }
            return {};
        }
        case NftOp::Kind::AddChain: {
            if (chain_exists(op.chain.name)) return rejected(EEXIST, what);
            table->chains.push_back({op.chain, {}, table->next_handle++});
            return {};
        }
        case NftOp::Kind::DeleteChain: {
            auto found = find_named(table->chains, op.chain_name, chain_name);
            if (found == table->chains.end()) return rejected(ENOENT, what);
            for (const auto& chain : table->chains) {
                if (chain.definition.name == op.chain_name) continue;
                for (const auto& rule : chain.rules) {
                    std::vector<std::string> chains, sets;
                    rule_references(rule.rule, chains, sets);
                    if (std::find(chains.begin(), chains.end(), op.chain_name) != chains.end())
                        return rejected(EBUSY, what);
                }
            }
            for (const auto& set : table->sets)
                for (const auto& [key, element] : set.elements)
                    if (element.verdict && element.verdict->chain == op.chain_name)
                        return rejected(EBUSY, what);
            table->chains.erase(found);
            return {};
        }
        case NftOp::Kind::FlushChain: {
            auto found = find_named(table->chains, op.chain_name, chain_name);
            if (found == table->chains.end()) return rejected(ENOENT, what);
            found->rules.clear();
            return {};
        }
        case NftOp::Kind::AddRule: {
            auto found = find_named(table->chains, op.chain_name, chain_name);
            if (found == table->chains.end()) return rejected(ENOENT, what);
            std::vector<std::string> chains, sets;
            rule_references(op.rule, chains, sets);
            for (const auto& chain : chains)
                if (!chain_exists(chain)) return rejected(ENOENT, what);
            for (const auto& set : sets)
                if (find_named(table->sets, set, set_name) == table->sets.end())
                    return rejected(ENOENT, what);
            for (const auto& expr : op.rule.exprs)
                if (const auto* lookup = std::get_if<kernel::Lookup>(&expr))
                    if (lookup->anonymous_index &&
                        *lookup->anonymous_index >= op.rule.anonymous_sets.size())
                        return std::unexpected(NftError{NftError::Kind::Invalid, EINVAL,
                                                        what + ": missing anonymous set"});
            FakeRule rule{table->next_handle++, op.rule};
            if (op.handle == 0) {
                found->rules.push_back(std::move(rule));
            } else {
                auto position =
                    std::find_if(found->rules.begin(), found->rules.end(),
                                 [&](const FakeRule& r) { return r.handle == op.handle; });
                if (position == found->rules.end()) return rejected(ENOENT, what);
                found->rules.insert(position + 1, std::move(rule));
            }
            return {};
        }
        case NftOp::Kind::DeleteRule: {
            auto found = find_named(table->chains, op.chain_name, chain_name);
            if (found == table->chains.end()) return rejected(ENOENT, what);
            auto rule = std::find_if(found->rules.begin(), found->rules.end(),
                                     [&](const FakeRule& r) { return r.handle == op.handle; });
            if (rule == found->rules.end()) return rejected(ENOENT, what);
            found->rules.erase(rule);
            return {};
        }
    }
    return {};
}

std::expected<kernel::ObservedTable, NftError> NftFake::dump() {
    if (std::exchange(fail_dump_, false))
        return std::unexpected(
            NftError{NftError::Kind::OutcomeUnknown, ENOBUFS,
                     "reading nftables dump: ENOBUFS (No buffer space available)"});
    kernel::ObservedTable observed;
    if (!table_) return observed;
    observed.exists = true;
    for (const auto& set : table_->sets) {
        kernel::ObservedSet copy{set.definition, set.handle};
        for (const auto& [key, element] : set.elements)
            copy.set.elements.push_back(element);
        std::sort(copy.set.elements.begin(), copy.set.elements.end());
        observed.sets.push_back(std::move(copy));
    }
    for (const auto& chain : table_->chains) {
        kernel::ObservedChain copy{chain.definition.name,
                                   chain.handle,
                                   chain.definition.base,
                                   chain.definition.comment,
                                   {}};
        for (const auto& rule : chain.rules)
            copy.rules.push_back(
                {rule.handle, rule_identity_digest(rule.rule.text), rule.rule.comment,
                 has_counter(rule.rule) ? std::optional(rule.packets) : std::nullopt,
                 has_counter(rule.rule) ? std::optional(rule.bytes) : std::nullopt});
        observed.chains.push_back(std::move(copy));
    }
    return observed;
}

}  // namespace natctl::netlink
