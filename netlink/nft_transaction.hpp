// One atomic change to natctl's nftables table, and the narrow interface every backend
// (the real netlink socket, the in-memory fake) implements. A transaction is a list of
// operations applied in order inside one BEGIN…END batch: either all of them take effect
// or none does.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "kernelstate/kernel_state.hpp"
#include "kernelstate/observed.hpp"
#include "util/error.hpp"

namespace natctl::netlink {

struct NftError {
    enum class Kind : std::uint8_t {
        Kernel,          // the kernel rejected the batch; nothing changed
        OutcomeUnknown,  // acknowledgements were lost (ENOBUFS): re-read the kernel
        Socket,          // the socket failed before the batch reached the kernel
        Invalid,         // the transaction could not be encoded (a bug in the caller)
    };
    Kind kind = Kind::Kernel;
    int error_number = 0;  // errno reported by the kernel, when there is one
    std::string message;   // names the offending entry: set + element key, chain, rule owner

    // As the layers above report it: Kernel and Socket are KernelRefused (either way the
    // table is as it was: a netlink sendto that fails delivers nothing), OutcomeUnknown stays,
    // Invalid is Internal (natctl built something it cannot encode).
    util::Error to_error() const;
};

struct NftOp {
    enum class Kind : std::uint8_t {
        AddTable,  // idempotent; no owner flag: the table outlives the process
        DeleteTable,
        AddSet,  // set definition and its elements
        DeleteSet,
        AddElements,     // set: the set's definition, set.elements the elements to add
        DeleteElements,  // likewise, the elements to delete
        AddChain,        // chain definition only; Chain::rules are ignored
        DeleteChain,     // also deletes its rules
        FlushChain,      // deletes every rule of the chain
        AddRule,         // appended, or inserted after the rule with handle `position`
        DeleteRule,      // by handle
    };
    Kind kind = Kind::AddTable;
    kernel::Set set;
    kernel::Chain chain;
    std::string chain_name;  // AddRule / DeleteRule / DeleteChain / FlushChain
    kernel::Rule rule;
    std::uint64_t handle = 0;  // DeleteRule: the rule; AddRule: position (0: append)
    std::string owner;         // DeleteRule: the model path, for error messages
};

// Human-readable name of an operation for error messages, e.g. "add chain inbound".
std::string describe_op(const NftOp& op);

class NftTransaction {
  public:
    NftTransaction& add_table();
    NftTransaction& delete_table();
    NftTransaction& add_set(kernel::Set set);
    NftTransaction& delete_set(std::string name);
    NftTransaction& add_elements(kernel::Set set_with_new_elements);
    NftTransaction& delete_elements(kernel::Set set_with_gone_elements);
    NftTransaction& add_chain(kernel::Chain chain);
    NftTransaction& delete_chain(std::string name);
    NftTransaction& flush_chain(std::string name);
    NftTransaction& add_rule(std::string chain, kernel::Rule rule, std::uint64_t after_handle = 0);
    NftTransaction& delete_rule(std::string chain, std::uint64_t handle, std::string owner = {});

    // Everything needed to create `table` from nothing, in the order the kernel needs:
    // table, every chain (jumps and verdict maps refer to them), every set with its
    // elements, then each chain's rules.
    NftTransaction& create_table(const kernel::Table& table);

    const std::vector<NftOp>& ops() const { return ops_; }
    bool empty() const { return ops_.empty(); }

  private:
    std::vector<NftOp> ops_;
};

class NftBackend {
  public:
    virtual ~NftBackend() = default;
    // Applies every operation of the transaction atomically.
    virtual std::expected<void, NftError> apply(const NftTransaction& transaction) = 0;
    // Reads back table ip natctl (and nothing else).
    virtual std::expected<kernel::ObservedTable, NftError> dump() = 0;
};

}  // namespace natctl::netlink
