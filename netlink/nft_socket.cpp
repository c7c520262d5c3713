#include "netlink/nft_socket.hpp"

#include <libmnl/libmnl.h>
#include <netinet/in.h>
#include <sys/socket.h>
// clang-format off: the kernel headers need netinet/in.h first
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
// clang-format on

#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <memory>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "netlink/nft_encode.hpp"
#include "netlink/nft_readback.hpp"
#include "netlink/nlmsg_fits.hpp"

namespace natctl::netlink {

namespace {

using Clock = std::chrono::steady_clock;

// Room reserved before building one message: an element message stops near 64 KiB (the
// attribute length limit) but may overshoot by one element before trimming it.
constexpr std::size_t kMessageRoom = 128 * 1024;
// Receive-buffer room per expected ACK (an skb's true size, not its 36 payload bytes).
constexpr std::size_t kAckRoom = 1024;

NftError socket_error(std::string what) {
    return {NftError::Kind::Socket, errno, fmt::format("{}: {}", what, util::errno_text(errno))};
}

// A contiguous buffer of netlink messages (the whole batch goes to the kernel in one sendto)
// over storage the socket keeps from one apply to the next: sized once per apply from an
// estimate of the batch, never zero-filled, grown (rarely) by copying what was written.
class BatchBuffer {
  public:
    BatchBuffer(std::unique_ptr<char[]>& storage, std::size_t& capacity)
        : storage_(storage), capacity_(capacity) {}

    void reserve(std::size_t bytes) {
        if (bytes <= capacity_) return;
        auto grown = std::make_unique_for_overwrite<char[]>(bytes);
        if (used_ != 0) std::memcpy(grown.get(), storage_.get(), used_);
        storage_ = std::move(grown);
        capacity_ = bytes;
    }
    char* room(std::size_t bytes = kMessageRoom) {
        if (capacity_ < used_ + bytes) reserve(std::max(capacity_ * 2, used_ + bytes));
        return storage_.get() + used_;
    }
    std::size_t offset() const { return used_; }
    void commit(const nlmsghdr* message) { used_ += NLMSG_ALIGN(message->nlmsg_len); }
    const char* data() const { return storage_.get(); }
    std::size_t size() const { return used_; }
    const nlmsghdr* at(std::size_t offset) const {
        return reinterpret_cast<const nlmsghdr*>(storage_.get() + offset);
    }

  private:
    std::unique_ptr<char[]>& storage_;
    std::size_t& capacity_;
    std::size_t used_ = 0;
};

// Who a message in the batch speaks for, so that an error names the entry.
struct MessageRecord {
    std::size_t offset = 0;  // in the batch buffer
    std::size_t op = 0;
    std::string what;  // the object: "add set dnat_ports", "add rule to chain … for …"
    const kernel::Set* element_schema = nullptr;  // element messages only
    const std::vector<kernel::Element>* element_source = nullptr;
    const ElementSources* sources = nullptr;
    std::size_t first_element = 0;  // kernel element of the list the message starts with
};

// Walks the attributes in [start, end), stopping early when `visit` returns true. (libmnl's
// iteration macros do not compile as C++ with const messages.)
template <typename Visit>
void for_each_attr(const char* start, const char* end, Visit visit) {
    const char* at = start;
    while (at + sizeof(nlattr) <= end) {
        const auto* attr = reinterpret_cast<const nlattr*>(at);
        if (attr->nla_len < sizeof(nlattr) || at + attr->nla_len > end) return;
        if (visit(attr)) return;
        at += NLA_ALIGN(attr->nla_len);
    }
}

std::uint16_t attr_type(const nlattr* attr) {
    return static_cast<std::uint16_t>(attr->nla_type & NLA_TYPE_MASK);
}

template <typename Visit>
void for_each_nested(const nlattr* nest, Visit visit) {
    const auto* start = reinterpret_cast<const char*>(nest);
    for_each_attr(start + NLA_HDRLEN, start + nest->nla_len, visit);
}

const nlattr* find_attr(const nlmsghdr* message, std::uint16_t type) {
    const auto* start = reinterpret_cast<const char*>(message);
    const nlattr* found = nullptr;
    for_each_attr(start + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg)), start + message->nlmsg_len,
                  [&](const nlattr* attr) {
                      if (attr_type(attr) != type) return false;
                      found = attr;
                      return true;
                  });
    return found;
}

// Index (within the message) of the list element that contains byte `offset` of the
// message, as reported by the kernel's extended ACK.
std::optional<std::size_t> element_at_offset(const nlmsghdr* message, std::uint32_t offset) {
    const auto* list = find_attr(message, NFTA_SET_ELEM_LIST_ELEMENTS);
    if (!list) return std::nullopt;
    const auto* base = reinterpret_cast<const char*>(message);
    std::size_t index = 0;
    std::optional<std::size_t> found;
    for_each_nested(list, [&](const nlattr* element) {
        auto start = static_cast<std::uint32_t>(reinterpret_cast<const char*>(element) - base);
        if (offset >= start && offset < start + element->nla_len) {
            found = index;
            return true;
        }
        ++index;
        return false;
    });
    return found;
}

std::string table_name_of(const nlmsghdr* message, std::uint16_t table_attr) {
    const auto* attr = find_attr(message, table_attr);
    return attr ? std::string(mnl_attr_get_str(attr)) : std::string();
}

struct KernelError {
    std::uint32_t seq = 0;
    int error_number = 0;
    std::optional<std::uint32_t> bad_attr_offset;
    std::string kernel_message;
};

std::string element_owner(const MessageRecord& record, const nlmsghdr* message,
                          const KernelError& error) {
    if (!record.sources || !error.bad_attr_offset) return record.what;
    auto index = element_at_offset(message, *error.bad_attr_offset);
    if (!index) return record.what;
    auto source = record.sources->source_of(record.first_element + *index);
    if (!source) return record.what;
    if (*source < 0) return record.what + ": leading interval end element";
    const auto& element = (*record.element_source)[static_cast<std::size_t>(*source)];
    return fmt::format("{}: element {}", record.what,
                       describe_element(*record.element_schema, element));
}

}  // namespace

NftSocket::NftSocket(MnlSocket socket)
    : socket_(std::move(socket)),
      port_id_(mnl_socket_get_portid(socket_.get())),
      sequence_(static_cast<std::uint32_t>(std::time(nullptr))) {}

std::expected<std::unique_ptr<NftSocket>, NftError> NftSocket::open() {
    MnlSocket socket(mnl_socket_open(NETLINK_NETFILTER));
    if (!socket) return std::unexpected(socket_error("cannot open netfilter netlink socket"));
    if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0)
        return std::unexpected(socket_error("cannot bind netfilter netlink socket"));
    int on = 1;
    // Extended ACKs point at the offending attribute (the element of a failing element
    // list); capped ACKs keep the kernel from echoing 64 KiB messages back with each error.
    if (mnl_socket_setsockopt(socket.get(), NETLINK_EXT_ACK, &on, sizeof(on)) < 0 ||
        mnl_socket_setsockopt(socket.get(), NETLINK_CAP_ACK, &on, sizeof(on)) < 0)
        return std::unexpected(socket_error("cannot enable extended ACKs"));
    return std::unique_ptr<NftSocket>(new NftSocket(std::move(socket)));
}

std::expected<void, NftError> NftSocket::apply(const NftTransaction& transaction) {
    auto build_start = Clock::now();
    stats_ = {};
    const std::string table = kernel::kTableName;
    const auto& ops = transaction.ops();

    // Size the batch once: element lists from their exact layout, everything else (tables,
    // chains, rules, set definitions) is small.
    BatchBuffer batch(batch_storage_, batch_capacity_);
    std::size_t element_bytes = 0;
    std::size_t message_estimate = ops.size() + 2;
    for (const auto& op : ops) {
        bool creates = op.kind == NftOp::Kind::AddSet;
        if (creates || op.kind == NftOp::Kind::AddElements ||
            op.kind == NftOp::Kind::DeleteElements)
            element_bytes += element_messages_size_bound(op.set, op.set.elements, creates);
        for (const auto& anonymous : op.rule.anonymous_sets)
            element_bytes +=
                element_messages_size_bound(anonymous, anonymous.elements, true) + kMessageRoom;
    }
    message_estimate += element_bytes / (32 * 1024);
    batch.reserve(element_bytes + ops.size() * 4096 + 2 * kMessageRoom);
    std::vector<MessageRecord> records;
    records.reserve(message_estimate);
    std::deque<ElementSources> element_sources;  // kept alive for error mapping

    const std::uint32_t first_seq = ++sequence_;
    std::uint32_t seq = first_seq;
    {
        auto* begin = nftnl_batch_begin(batch.room(), seq);
        batch.commit(begin);
    }
    auto invalid = [](std::string message) {
        return std::unexpected(NftError{NftError::Kind::Invalid, EINVAL, std::move(message)});
    };
    auto start_message = [&](std::uint16_t type, std::uint16_t flags, std::size_t op,
                             std::string what) -> nlmsghdr* {
        ++seq;
        records.push_back({.offset = batch.offset(), .op = op, .what = std::move(what)});
        return nftnl_nlmsg_build_hdr(batch.room(), type, NFPROTO_IPV4,
                                     static_cast<std::uint16_t>(flags | NLM_F_ACK), seq);
    };
    auto add_element_messages =
        [&](std::uint16_t type, std::uint16_t flags, std::size_t op, const std::string& what,
            const kernel::Set& schema, const std::vector<kernel::Element>& elements,
            const SetIdentity& identity, bool leading_zero) -> std::expected<void, NftError> {
        if (elements.empty()) return {};
        // Messages are written straight into the batch; the records learn their element
        // sources once the list is complete.
        struct Sink final : ElementMessageSink {
            nlmsghdr* begin_message(std::size_t room) override {
                ++*seq;
                records->push_back({.offset = batch->offset(), .op = op, .what = *what});
                auto& record = records->back();
                record.element_schema = schema;
                record.element_source = elements;
                return nftnl_nlmsg_build_hdr(batch->room(room), type, NFPROTO_IPV4,
                                             static_cast<std::uint16_t>(flags | NLM_F_ACK), *seq);
            }
            void end_message(nlmsghdr* message, std::size_t first, std::size_t) override {
                records->back().first_element = first;
                batch->commit(message);
            }
            BatchBuffer* batch;
            std::vector<MessageRecord>* records;
            std::uint32_t* seq;
            std::uint16_t type, flags;
            std::size_t op;
            const std::string* what;
            const kernel::Set* schema;
            const std::vector<kernel::Element>* elements;
        };
        auto first_record = records.size();
        Sink sink;
        sink.batch = &batch;
        sink.records = &records;
        sink.seq = &seq;
        sink.type = type;
        sink.flags = flags;
        sink.op = op;
        sink.what = &what;
        sink.schema = &schema;
        sink.elements = &elements;
        auto sources =
            encode_element_messages(table, schema, identity, elements, leading_zero, sink);
        if (!sources) return invalid(fmt::format("{}: {}", what, sources.error()));
        element_sources.push_back(std::move(*sources));
        for (auto i = first_record; i < records.size(); ++i)
            records[i].sources = &element_sources.back();
        return {};
    };

    for (std::size_t index = 0; index < ops.size(); ++index) {
        const auto& op = ops[index];
        auto what = describe_op(op);
        switch (op.kind) {
            case NftOp::Kind::AddTable:
            case NftOp::Kind::DeleteTable: {
                bool add = op.kind == NftOp::Kind::AddTable;
                auto encoded = encode_table(table);
                auto* message = start_message(add ? NFT_MSG_NEWTABLE : NFT_MSG_DELTABLE,
                                              add ? NLM_F_CREATE : 0, index, what);
                nftnl_table_nlmsg_build_payload(message, encoded.get());
                batch.commit(message);
                break;
            }
            case NftOp::Kind::AddSet: {
                SetIdentity identity{op.set.name, next_set_id_++, false};
                auto encoded = encode_set(table, op.set, identity);
                if (!encoded) return invalid(fmt::format("{}: {}", what, encoded.error()));
                auto* message =
                    start_message(NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL, index, what);
                nftnl_set_nlmsg_build_payload(message, encoded->get());
                batch.commit(message);
                if (auto added = add_element_messages(NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL,
                                                      index, fmt::format("set {}", op.set.name),
                                                      op.set, op.set.elements, identity, true);
                    !added)
                    return std::unexpected(added.error());
                break;
            }
            case NftOp::Kind::DeleteSet: {
                NftnlSet encoded(nftnl_set_alloc());
                nftnl_set_set_u32(encoded.get(), NFTNL_SET_FAMILY, NFPROTO_IPV4);
                nftnl_set_set_str(encoded.get(), NFTNL_SET_TABLE, table.c_str());
                nftnl_set_set_str(encoded.get(), NFTNL_SET_NAME, op.set.name.c_str());
                auto* message = start_message(NFT_MSG_DELSET, 0, index, what);
                nftnl_set_nlmsg_build_payload(message, encoded.get());
                batch.commit(message);
                break;
            }
            case NftOp::Kind::AddElements:
            case NftOp::Kind::DeleteElements: {
                bool add = op.kind == NftOp::Kind::AddElements;
                SetIdentity identity{op.set.name, 0, false};
                if (auto added =
                        add_element_messages(add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
                                             add ? NLM_F_CREATE | NLM_F_EXCL : 0, index, what,
                                             op.set, op.set.elements, identity, false);
                    !added)
                    return std::unexpected(added.error());
                break;
            }
            case NftOp::Kind::AddChain: {
                auto encoded = encode_chain(table, op.chain);
                if (!encoded) return invalid(fmt::format("{}: {}", what, encoded.error()));
                auto* message =
                    start_message(NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, index, what);
                nftnl_chain_nlmsg_build_payload(message, encoded->get());
                batch.commit(message);
                break;
            }
            case NftOp::Kind::DeleteChain: {
                auto encoded = encode_chain_ref(table, op.chain_name);
                auto* message = start_message(NFT_MSG_DELCHAIN, 0, index, what);
                nftnl_chain_nlmsg_build_payload(message, encoded.get());
                batch.commit(message);
                break;
            }
            case NftOp::Kind::FlushChain: {
                // A rule deletion naming only the chain deletes all of its rules.
                NftnlRule encoded(nftnl_rule_alloc());
                nftnl_rule_set_u32(encoded.get(), NFTNL_RULE_FAMILY, NFPROTO_IPV4);
                nftnl_rule_set_str(encoded.get(), NFTNL_RULE_TABLE, table.c_str());
                nftnl_rule_set_str(encoded.get(), NFTNL_RULE_CHAIN, op.chain_name.c_str());
                auto* message = start_message(NFT_MSG_DELRULE, 0, index, what);
                nftnl_rule_nlmsg_build_payload(message, encoded.get());
                batch.commit(message);
                break;
            }
            case NftOp::Kind::AddRule: {
                std::vector<SetIdentity> identities;
                for (const auto& anonymous : op.rule.anonymous_sets) {
                    SetIdentity identity{anonymous.is_map() ? "__map%d" : "__set%d", next_set_id_++,
                                         true};
                    auto encoded = encode_set(table, anonymous, identity);
                    if (!encoded) return invalid(fmt::format("{}: {}", what, encoded.error()));
                    auto* message =
                        start_message(NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL, index, what);
                    nftnl_set_nlmsg_build_payload(message, encoded->get());
                    batch.commit(message);
                    if (auto added = add_element_messages(
                            NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL, index,
                            fmt::format("anonymous set of rule {}", what), anonymous,
                            anonymous.elements, identity, true);
                        !added)
                        return std::unexpected(added.error());
                    identities.push_back(std::move(identity));
                }
                auto encoded = encode_rule(table, op.chain_name, op.rule, identities);
                if (!encoded) return invalid(fmt::format("{}: {}", what, encoded.error()));
                if (op.handle != 0)
                    nftnl_rule_set_u64(encoded->get(), NFTNL_RULE_POSITION, op.handle);
                auto* message =
                    start_message(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, index, what);
                nftnl_rule_nlmsg_build_payload(message, encoded->get());
                batch.commit(message);
                break;
            }
            case NftOp::Kind::DeleteRule: {
                auto encoded = encode_rule_ref(table, op.chain_name, op.handle);
                auto* message = start_message(NFT_MSG_DELRULE, 0, index, what);
                nftnl_rule_nlmsg_build_payload(message, encoded.get());
                batch.commit(message);
                break;
            }
        }
    }
    {
        auto* end = nftnl_batch_end(batch.room(), ++seq);
        batch.commit(end);
    }
    stats_.messages = records.size();
    stats_.bytes = batch.size();
    auto kernel_start = Clock::now();
    stats_.build = kernel_start - build_start;
    if (records.empty()) return {};

    // The whole batch goes in one sendto: the socket buffers must hold it and its ACKs.
    auto* socket = socket_.get();
    int fd = mnl_socket_get_fd(socket);
    auto wanted_send = static_cast<int>(std::min<std::size_t>(batch.size() + 4096, INT32_MAX / 2));
    if (wanted_send > send_buffer_) {
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &wanted_send, sizeof(wanted_send)) != 0)
            return std::unexpected(socket_error("cannot raise the netlink send buffer"));
        send_buffer_ = wanted_send;
    }
    auto wanted_receive = static_cast<int>(std::min<std::size_t>(
        std::max<std::size_t>(records.size() * kAckRoom, 256 * 1024), INT32_MAX / 2));
    if (wanted_receive > receive_buffer_) {
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &wanted_receive, sizeof(wanted_receive)) !=
            0)
            return std::unexpected(socket_error("cannot raise the netlink receive buffer"));
        receive_buffer_ = wanted_receive;
    }
    if (mnl_socket_sendto(socket, batch.data(), batch.size()) < 0)
        return std::unexpected(socket_error("cannot send the nftables batch"));

    // The kernel processes the batch inside sendto, so every ACK is queued by now.
    std::size_t acknowledged = 0;
    bool lost = false;
    std::vector<KernelError> errors;
    if (receive_buffer_storage_.empty()) receive_buffer_storage_.resize(64 * 1024);
    auto& receive = receive_buffer_storage_;
    while (acknowledged + errors.size() < records.size()) {
        auto received = recv(fd, receive.data(), receive.size(), MSG_DONTWAIT);
        if (received < 0) {
            if (errno == ENOBUFS) {
                lost = true;
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return std::unexpected(
                NftError{NftError::Kind::OutcomeUnknown, errno,
                         fmt::format("reading nftables ACKs: {}", util::errno_text(errno))});
        }
        auto remaining = static_cast<int>(received);
        for (auto* message = reinterpret_cast<const nlmsghdr*>(receive.data());
             message_fits(message, remaining); message = mnl_nlmsg_next(message, &remaining)) {
            if (message->nlmsg_type != NLMSG_ERROR) continue;
            const auto* ack = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(message));
            if (ack->error == 0) {
                ++acknowledged;
                continue;
            }
            KernelError error{message->nlmsg_seq, -ack->error, std::nullopt, {}};
            if (message->nlmsg_flags & NLM_F_ACK_TLVS) {
                std::size_t tlv_offset = sizeof(nlmsgerr);
                if (!(message->nlmsg_flags & NLM_F_CAPPED))
                    tlv_offset += ack->msg.nlmsg_len - sizeof(nlmsghdr);
                const auto* payload = static_cast<const char*>(mnl_nlmsg_get_payload(message));
                for_each_attr(payload + tlv_offset,
                              reinterpret_cast<const char*>(message) + message->nlmsg_len,
                              [&](const nlattr* attr) {
                                  if (attr_type(attr) == NLMSGERR_ATTR_OFFS)
                                      error.bad_attr_offset = mnl_attr_get_u32(attr);
                                  else if (attr_type(attr) == NLMSGERR_ATTR_MSG)
                                      error.kernel_message = mnl_attr_get_str(attr);
                                  return false;
                              });
            }
            errors.push_back(std::move(error));
        }
    }
    stats_.kernel = Clock::now() - kernel_start;

    if (!errors.empty()) {
        std::sort(errors.begin(), errors.end(),
                  [](const KernelError& a, const KernelError& b) { return a.seq < b.seq; });
        const auto& first = errors.front();
        std::string owner = "the batch";
        auto index = static_cast<std::size_t>(first.seq - first_seq);  // begin is first_seq
        if (index >= 1 && index <= records.size()) {
            const auto& record = records[index - 1];
            owner = element_owner(record, batch.at(record.offset), first);
        }
        auto message = fmt::format("{}: {}", owner, util::errno_text(first.error_number));
        if (!first.kernel_message.empty()) message += fmt::format(" ({})", first.kernel_message);
        if (errors.size() > 1) message += fmt::format(" (and {} more errors)", errors.size() - 1);
        return std::unexpected(NftError{NftError::Kind::Kernel, first.error_number, message});
    }
    if (lost || acknowledged < records.size())
        return std::unexpected(NftError{
            NftError::Kind::OutcomeUnknown, lost ? ENOBUFS : 0,
            fmt::format("the kernel acknowledged {} of {} messages{}; re-read its state",
                        acknowledged, records.size(), lost ? " (ACKs lost: ENOBUFS)" : "")});
    return {};
}

namespace {

struct CallbackContext {
    const std::function<int(const nlmsghdr*)>* on_message;
};

int dispatch(const nlmsghdr* message, void* data) {
    return (*static_cast<CallbackContext*>(data)->on_message)(message);
}

}  // namespace

std::expected<kernel::ObservedTable, NftError> NftSocket::dump() {
    return dump_table(true);
}

std::expected<kernel::ObservedTable, NftError> NftSocket::dump_rules() {
    return dump_table(false);
}

std::expected<kernel::ObservedTable, NftError> NftSocket::dump_table(bool with_sets) {
    const std::string table = kernel::kTableName;
    auto* socket = socket_.get();
    std::vector<char> buffer(std::max<std::size_t>(MNL_SOCKET_BUFFER_SIZE, 64 * 1024));

    // Runs one request; errors other than those listed in `tolerated` fail the dump.
    auto request =
        [&](nlmsghdr* message,
            const std::function<int(const nlmsghdr*)>& on_message) -> std::expected<int, NftError> {
        if (mnl_socket_sendto(socket, message, message->nlmsg_len) < 0)
            return std::unexpected(socket_error("cannot send nftables dump request"));
        auto seq = message->nlmsg_seq;
        CallbackContext context{&on_message};
        while (true) {
            auto received = mnl_socket_recvfrom(socket, buffer.data(), buffer.size());
            if (received < 0) {
                if (errno == EINTR) continue;
                return std::unexpected(NftError{
                    errno == ENOBUFS ? NftError::Kind::OutcomeUnknown : NftError::Kind::Socket,
                    errno, fmt::format("reading nftables dump: {}", std::strerror(errno))});
            }
            auto result = mnl_cb_run(buffer.data(), static_cast<std::size_t>(received), seq,
                                     port_id_, dispatch, &context);
            if (result == MNL_CB_STOP) return 0;
            if (result < 0) return errno;
        }
    };

    std::vector<char> request_buffer(8192);
    kernel::ObservedTable observed;
    {
        auto encoded = encode_table(table);
        // A plain get answers with the table and then an ACK, which ends the request.
        auto* message = nftnl_nlmsg_build_hdr(request_buffer.data(), NFT_MSG_GETTABLE, NFPROTO_IPV4,
                                              NLM_F_ACK, ++sequence_);
        nftnl_table_nlmsg_build_payload(message, encoded.get());
        auto result = request(message, [](const nlmsghdr*) { return MNL_CB_OK; });
        if (!result) return std::unexpected(result.error());
        if (*result == ENOENT) return observed;
        if (*result != 0)
            return std::unexpected(
                NftError{NftError::Kind::Kernel, *result,
                         fmt::format("reading table ip {}: {}", table, std::strerror(*result))});
        observed.exists = true;
    }
    auto fail = [&](std::string what, int error_number) {
        return std::unexpected(NftError{NftError::Kind::Kernel, error_number,
                                        fmt::format("{}: {}", what, std::strerror(error_number))});
    };

    // Sets (named only: anonymous sets belong to their rules).
    std::vector<std::pair<kernel::Set, std::uint64_t>> sets;
    std::string decode_failure;
    if (with_sets) {
        NftnlSet filter(nftnl_set_alloc());
        nftnl_set_set_str(filter.get(), NFTNL_SET_TABLE, table.c_str());
        auto* message = nftnl_nlmsg_build_hdr(request_buffer.data(), NFT_MSG_GETSET, NFPROTO_IPV4,
                                              NLM_F_DUMP, ++sequence_);
        nftnl_set_nlmsg_build_payload(message, filter.get());
        auto result = request(message, [&](const nlmsghdr* reply) {
            if (table_name_of(reply, NFTA_SET_TABLE) != table) return MNL_CB_OK;
            NftnlSet parsed(nftnl_set_alloc());
            if (nftnl_set_nlmsg_parse(reply, parsed.get()) < 0) return MNL_CB_ERROR;
            if (nftnl_set_get_u32(parsed.get(), NFTNL_SET_FLAGS) & NFT_SET_ANONYMOUS)
                return MNL_CB_OK;
            auto decoded = decode_set(parsed.get());
            if (!decoded) {
                decode_failure = decoded.error();
                return MNL_CB_OK;
            }
            sets.emplace_back(std::move(*decoded),
                              nftnl_set_get_u64(parsed.get(), NFTNL_SET_HANDLE));
            return MNL_CB_OK;
        });
        if (!result) return std::unexpected(result.error());
        if (*result != 0) return fail("listing sets of table ip natctl", *result);
    }
    for (auto& [set, handle] : sets) {
        // The data plane fills dynamic sets (port budget accounting, up to a million
        // elements each) and natctl never diffs them: reading them back on every drift
        // check would only cost time.
        if (set.dynamic) {
            observed.sets.push_back({std::move(set), handle});
            continue;
        }
        NftnlSet holder(nftnl_set_alloc());
        nftnl_set_set_str(holder.get(), NFTNL_SET_TABLE, table.c_str());
        nftnl_set_set_str(holder.get(), NFTNL_SET_NAME, set.name.c_str());
        auto* message = nftnl_nlmsg_build_hdr(request_buffer.data(), NFT_MSG_GETSETELEM,
                                              NFPROTO_IPV4, NLM_F_DUMP, ++sequence_);
        nftnl_set_elems_nlmsg_build_payload(message, holder.get());
        auto result = request(message, [&](const nlmsghdr* reply) {
            return nftnl_set_elems_nlmsg_parse(reply, holder.get()) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
        });
        if (!result) return std::unexpected(result.error());
        if (*result != 0) return fail(fmt::format("listing elements of set {}", set.name), *result);
        auto elements = decode_elements(set, holder.get());
        if (!elements)
            return std::unexpected(NftError{NftError::Kind::Invalid, EINVAL,
                                            fmt::format("set {}: {}", set.name, elements.error())});
        set.elements = std::move(*elements);
        observed.sets.push_back({std::move(set), handle});
    }
    if (!decode_failure.empty())
        return std::unexpected(NftError{NftError::Kind::Invalid, EINVAL, decode_failure});

    // Chains, then rules (in kernel order, attached to their chain).
    {
        auto filter = encode_chain_ref(table, "");
        nftnl_chain_unset(filter.get(), NFTNL_CHAIN_NAME);
        auto* message = nftnl_nlmsg_build_hdr(request_buffer.data(), NFT_MSG_GETCHAIN, NFPROTO_IPV4,
                                              NLM_F_DUMP, ++sequence_);
        nftnl_chain_nlmsg_build_payload(message, filter.get());
        auto result = request(message, [&](const nlmsghdr* reply) {
            // Chains of other tables are skipped before they are parsed.
            if (table_name_of(reply, NFTA_CHAIN_TABLE) != table) return MNL_CB_OK;
            NftnlChain parsed(nftnl_chain_alloc());
            if (nftnl_chain_nlmsg_parse(reply, parsed.get()) < 0) return MNL_CB_ERROR;
            auto decoded = decode_chain(parsed.get());
            if (!decoded) {
                decode_failure =
                    fmt::format("listing chains of table {}: {}", table, decoded.error());
                return MNL_CB_OK;
            }
            observed.chains.push_back(std::move(*decoded));
            return MNL_CB_OK;
        });
        if (!result) return std::unexpected(result.error());
        if (*result != 0) return fail("listing chains of table ip natctl", *result);
    }
    {
        NftnlRule filter(nftnl_rule_alloc());
        nftnl_rule_set_str(filter.get(), NFTNL_RULE_TABLE, table.c_str());
        auto* message = nftnl_nlmsg_build_hdr(request_buffer.data(), NFT_MSG_GETRULE, NFPROTO_IPV4,
                                              NLM_F_DUMP, ++sequence_);
        nftnl_rule_nlmsg_build_payload(message, filter.get());
        auto result = request(message, [&](const nlmsghdr* reply) {
            if (table_name_of(reply, NFTA_RULE_TABLE) != table) return MNL_CB_OK;
            NftnlRule parsed(nftnl_rule_alloc());
            if (nftnl_rule_nlmsg_parse(reply, parsed.get()) < 0) return MNL_CB_ERROR;
            if (!nftnl_rule_is_set(parsed.get(), NFTNL_RULE_CHAIN)) {
                decode_failure =
                    fmt::format("listing rules of table {}: a rule without a chain", table);
                return MNL_CB_OK;
            }
            std::string chain = nftnl_rule_get_str(parsed.get(), NFTNL_RULE_CHAIN);
            for (auto& observed_chain : observed.chains)
                if (observed_chain.name == chain) {
                    observed_chain.rules.push_back(decode_rule(parsed.get()));
                    break;
                }
            return MNL_CB_OK;
        });
        if (!result) return std::unexpected(result.error());
        if (*result != 0) return fail("listing rules of table ip natctl", *result);
    }
    if (!decode_failure.empty())
        return std::unexpected(NftError{NftError::Kind::Invalid, EINVAL, decode_failure});
    return observed;
}

}  // namespace natctl::netlink
