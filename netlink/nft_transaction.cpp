#include "netlink/nft_transaction.hpp"

#include <utility>

#include <fmt/format.h>

namespace natctl::netlink {

util::Error NftError::to_error() const {
    switch (kind) {
        case Kind::Kernel:
        case Kind::Socket:
            return {util::ErrorKind::KernelRefused, "", message};
        case Kind::OutcomeUnknown:
            return {util::ErrorKind::OutcomeUnknown, "", message};
        case Kind::Invalid:
            return {util::ErrorKind::Internal, "", message};
    }
    return {util::ErrorKind::Internal, "", message};
}

std::string describe_op(const NftOp& op) {
    switch (op.kind) {
        case NftOp::Kind::AddTable:
            return fmt::format("add table ip {}", kernel::kTableName);
        case NftOp::Kind::DeleteTable:
            return fmt::format("delete table ip {}", kernel::kTableName);
        case NftOp::Kind::AddSet:
            return fmt::format("add set {}", op.set.name);
        case NftOp::Kind::DeleteSet:
            return fmt::format("delete set {}", op.set.name);
        case NftOp::Kind::AddElements:
            return fmt::format("add elements to set {}", op.set.name);
        case NftOp::Kind::DeleteElements:
            return fmt::format("delete elements from set {}", op.set.name);
        case NftOp::Kind::AddChain:
            return fmt::format("add chain {}", op.chain.name);
        case NftOp::Kind::DeleteChain:
            return fmt::format("delete chain {}", op.chain_name);
        case NftOp::Kind::FlushChain:
            return fmt::format("flush chain {}", op.chain_name);
        case NftOp::Kind::AddRule:
            return fmt::format("add rule to chain {} for {} ({})", op.chain_name,
                               op.rule.owner.empty() ? "?" : op.rule.owner, op.rule.text);
        case NftOp::Kind::DeleteRule:
            return fmt::format("delete rule handle {} of chain {}{}", op.handle, op.chain_name,
                               op.owner.empty() ? "" : " for " + op.owner);
    }
    return "unknown operation";
}

namespace {

NftOp make_op(NftOp::Kind kind) {
    NftOp op;
    op.kind = kind;
    return op;
}

}  // namespace

NftTransaction& NftTransaction::add_table() {
    ops_.push_back(make_op(NftOp::Kind::AddTable));
    return *this;
}

NftTransaction& NftTransaction::delete_table() {
    ops_.push_back(make_op(NftOp::Kind::DeleteTable));
    return *this;
}

NftTransaction& NftTransaction::add_set(kernel::Set set) {
    auto op = make_op(NftOp::Kind::AddSet);
    op.set = std::move(set);
    ops_.push_back(std::move(op));
    return *this;
}

NftTransaction& NftTransaction::delete_set(std::string name) {
    auto op = make_op(NftOp::Kind::DeleteSet);
    op.set.name = std::move(name);
    ops_.push_back(std::move(op));
    return *this;
}

NftTransaction& NftTransaction::add_elements(kernel::Set set_with_new_elements) {
    auto op = make_op(NftOp::Kind::AddElements);
    op.set = std::move(set_with_new_elements);
    ops_.push_back(std::move(op));
    return *this;
}

NftTransaction& NftTransaction::delete_elements(kernel::Set set_with_gone_elements) {
    auto op = make_op(NftOp::Kind::DeleteElements);
    op.set = std::move(set_with_gone_elements);
    ops_.push_back(std::move(op));
    return *this;
}

NftTransaction& NftTransaction::add_chain(kernel::Chain chain) {
    auto op = make_op(NftOp::Kind::AddChain);
    op.chain = std::move(chain);
    op.chain.rules.clear();
    ops_.push_back(std::move(op));
    return *this;
}

NftTransaction& NftTransaction::delete_chain(std::string name) {
    auto op = make_op(NftOp::Kind::DeleteChain);
    op.chain_name = std::move(name);
    ops_.push_back(std::move(op));
    return *this;
}

NftTransaction& NftTransaction::flush_chain(std::string name) {
    auto op = make_op(NftOp::Kind::FlushChain);
    op.chain_name = std::move(name);
    ops_.push_back(std::move(op));
    return *this;
}

NftTransaction& NftTransaction::add_rule(std::string chain, kernel::Rule rule,
                                         std::uint64_t after_handle) {
    auto op = make_op(NftOp::Kind::AddRule);
    op.chain_name = std::move(chain);
    op.rule = std::move(rule);
    op.handle = after_handle;
    ops_.push_back(std::move(op));
    return *this;
}

NftTransaction& NftTransaction::delete_rule(std::string chain, std::uint64_t handle,
                                            std::string owner) {
    auto op = make_op(NftOp::Kind::DeleteRule);
    op.chain_name = std::move(chain);
    op.handle = handle;
    op.owner = std::move(owner);
    ops_.push_back(std::move(op));
    return *this;
}

NftTransaction& NftTransaction::create_table(const kernel::Table& table) {
    add_table();
    for (const auto& chain : table.chains)
        add_chain(chain);
    for (const auto& set : table.sets)
        add_set(set);
    for (const auto& chain : table.chains)
        for (const auto& rule : chain.rules)
            add_rule(chain.name, rule);
    return *this;
}

}  // namespace natctl::netlink
