// Writes the binary seed corpora of the fuzz targets from natctl's own encoders, so that
// the seeds are what the parsers meet in production, byte for byte:
//   store_journal/   journals written by the store itself (whole-model commits, one-entry
//                    DNAT changes), from the empty revision 0 the fuzz target starts at
//   netlink_nft/     NEWSET + NEWSETELEM, NEWCHAIN and NEWRULE messages of the compiled
//                    example models (the attribute layout of a dump answer)
//   netlink_conntrack/  ctnetlink entries built by libnetfilter_conntrack: SNAT'd TCP,
//                    DNAT'd UDP, ICMP, with status, id, mark, zone and counters
//
//   make_seeds SOURCE_DIR OUT_DIR    (scripts/fuzz.sh --seeds runs it)
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "controller/compiler/compile.hpp"
#include "controller/model/validate.hpp"
#include "controller/store/store.hpp"
#include "netlink/nft_encode.hpp"
#include "tests/support/nft_element_oracle.hpp"

namespace {

namespace fs = std::filesystem;
namespace netlink = natctl::netlink;
namespace model = natctl::model;

std::string read_text(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

void write_bytes(const fs::path& path, const std::vector<char>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

model::Model load(const fs::path& path) {
    auto loaded = model::load_model(read_text(path));
    if (!loaded) {
        std::fprintf(stderr, "make_seeds: %s is not a valid model\n", path.c_str());
        std::exit(1);
    }
    return std::move(*loaded);
}

// Netlink messages appended to one datagram.
class Datagram {
  public:
    nlmsghdr* begin(std::uint16_t type) {
        auto* header = mnl_nlmsg_put_header(room());
        header->nlmsg_type = type;
        header->nlmsg_flags = NLM_F_MULTI;
        auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(nfgenmsg)));
        nfg->nfgen_family = AF_INET;
        nfg->version = NFNETLINK_V0;
        return header;
    }
    // libnftnl's own header builder: libnetfilter_conntrack's headers pull in libnfnetlink's
    // copy of <linux/netfilter/nfnetlink.h> under the kernel's include guard, and that copy
    // predates NFNL_SUBSYS_NFTABLES.
    nlmsghdr* begin_nft(std::uint16_t message) {
        auto* header = nftnl_nlmsg_build_hdr(room(), message, AF_INET, 0, 0);
        header->nlmsg_flags = NLM_F_MULTI;  // a dump answer's flags, not a request's
        return header;
    }
    void end(const nlmsghdr* header) { bytes_.resize(offset_ + MNL_ALIGN(header->nlmsg_len)); }
    const std::vector<char>& bytes() const { return bytes_; }

  private:
    char* room() {
        offset_ = bytes_.size();
        bytes_.resize(offset_ + kRoom);
        return bytes_.data() + offset_;
    }

    static constexpr std::size_t kRoom = 256 * 1024;
    std::vector<char> bytes_;
    std::size_t offset_ = 0;
};

void nft_seeds(const model::Model& model, const std::string& stem, const fs::path& out) {
    const auto state = natctl::compiler::compile(model);
    const std::string table = state.table.name;
    std::uint32_t id = 1;
    for (const auto& set : state.table.sets) {
        const netlink::SetIdentity identity{set.name, id++, false};
        auto encoded = netlink::encode_set(table, set, identity);
        if (!encoded) continue;
        Datagram datagram;
        auto* header = datagram.begin_nft(NFT_MSG_NEWSET);
        nftnl_set_nlmsg_build_payload(header, encoded->get());
        datagram.end(header);
        auto elements = netlink::encode_elements(table, set, identity, set.elements, false);
        if (elements && !set.elements.empty()) {
            header = datagram.begin_nft(NFT_MSG_NEWSETELEM);
            nftnl_set_elems_nlmsg_build_payload(header, elements->holder.get());
            datagram.end(header);
        }
        std::string name = set.name;
        for (char& c : name)
            if (c == '/') c = '_';
        write_bytes(out / (stem + "-set-" + name), datagram.bytes());
    }
    Datagram chains;
    for (const auto& chain : state.table.chains) {
        auto encoded = netlink::encode_chain(table, chain);
        if (!encoded) continue;
        auto* header = chains.begin_nft(NFT_MSG_NEWCHAIN);
        nftnl_chain_nlmsg_build_payload(header, encoded->get());
        chains.end(header);
        Datagram rules;
        for (const auto& rule : chain.rules) {
            std::vector<netlink::SetIdentity> anonymous;
            for (std::size_t i = 0; i < rule.anonymous_sets.size(); ++i)
                anonymous.push_back({"__set" + std::to_string(i), id++, true});
            auto encoded_rule = netlink::encode_rule(table, chain.name, rule, anonymous);
            if (!encoded_rule) continue;
            auto* rule_header = rules.begin_nft(NFT_MSG_NEWRULE);
            nftnl_rule_nlmsg_build_payload(rule_header, encoded_rule->get());
            rules.end(rule_header);
        }
        std::string name = chain.name;
        for (char& c : name)
            if (c == '/') c = '_';
        if (!rules.bytes().empty()) write_bytes(out / (stem + "-rules-" + name), rules.bytes());
    }
    write_bytes(out / (stem + "-chains"), chains.bytes());
}

struct Conntrack {
    std::uint8_t protocol;
    const char* src;
    const char* dst;
    std::uint16_t sport, dport;
    const char* reply_src;
    const char* reply_dst;
    std::uint16_t reply_sport, reply_dport;
    std::uint32_t status;
};

void conntrack_seeds(const fs::path& out) {
    const Conntrack entries[] = {
        {IPPROTO_TCP, "10.0.1.20", "198.51.100.7", 40000, 443, "198.51.100.7", "203.0.113.10", 443,
         1025, IPS_CONFIRMED | IPS_SRC_NAT | IPS_SRC_NAT_DONE | IPS_SEEN_REPLY},
        {IPPROTO_UDP, "198.51.100.7", "203.0.113.11", 5353, 53, "10.0.1.10", "198.51.100.7", 9000,
         5353, IPS_CONFIRMED | IPS_DST_NAT | IPS_DST_NAT_DONE},
        {IPPROTO_ICMP, "10.0.1.21", "198.51.100.9", 0, 0, "198.51.100.9", "203.0.113.12", 0, 0,
         IPS_CONFIRMED | IPS_SRC_NAT | IPS_SRC_NAT_DONE},
    };
    Datagram all;
    int index = 0;
    for (const auto& e : entries) {
        std::unique_ptr<nf_conntrack, void (*)(nf_conntrack*)> ct(nfct_new(), nfct_destroy);
        nfct_set_attr_u8(ct.get(), ATTR_L3PROTO, AF_INET);
        nfct_set_attr_u32(ct.get(), ATTR_IPV4_SRC, inet_addr(e.src));
        nfct_set_attr_u32(ct.get(), ATTR_IPV4_DST, inet_addr(e.dst));
        nfct_set_attr_u8(ct.get(), ATTR_REPL_L3PROTO, AF_INET);
        nfct_set_attr_u32(ct.get(), ATTR_REPL_IPV4_SRC, inet_addr(e.reply_src));
        nfct_set_attr_u32(ct.get(), ATTR_REPL_IPV4_DST, inet_addr(e.reply_dst));
        nfct_set_attr_u8(ct.get(), ATTR_L4PROTO, e.protocol);
        nfct_set_attr_u8(ct.get(), ATTR_REPL_L4PROTO, e.protocol);
        if (e.protocol == IPPROTO_ICMP) {
            nfct_set_attr_u8(ct.get(), ATTR_ICMP_TYPE, 8);
            nfct_set_attr_u8(ct.get(), ATTR_ICMP_CODE, 0);
            nfct_set_attr_u16(ct.get(), ATTR_ICMP_ID, htons(4242));
        } else {
            nfct_set_attr_u16(ct.get(), ATTR_PORT_SRC, htons(e.sport));
            nfct_set_attr_u16(ct.get(), ATTR_PORT_DST, htons(e.dport));
            nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_SRC, htons(e.reply_sport));
            nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_DST, htons(e.reply_dport));
        }
        nfct_set_attr_u32(ct.get(), ATTR_STATUS, e.status);
        nfct_set_attr_u32(ct.get(), ATTR_TIMEOUT, 120);
        nfct_set_attr_u32(ct.get(), ATTR_MARK, 0x4e544e50);
        nfct_set_attr_u16(ct.get(), ATTR_ZONE, 0);
        nfct_set_attr_u32(ct.get(), ATTR_ID, 1000u + static_cast<std::uint32_t>(index));
        nfct_set_attr_u64(ct.get(), ATTR_ORIG_COUNTER_PACKETS, 10);
        nfct_set_attr_u64(ct.get(), ATTR_ORIG_COUNTER_BYTES, 1400);
        nfct_set_attr_u64(ct.get(), ATTR_REPL_COUNTER_PACKETS, 8);
        nfct_set_attr_u64(ct.get(), ATTR_REPL_COUNTER_BYTES, 9000);
        for (auto type : {IPCTNL_MSG_CT_NEW, IPCTNL_MSG_CT_DELETE}) {
            Datagram one;
            for (Datagram* datagram : {&one, &all}) {
                auto* header = datagram->begin(
                    static_cast<std::uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | type));
                nfct_nlmsg_build(header, ct.get());
                datagram->end(header);
            }
            write_bytes(out / ("entry-" + std::to_string(index) +
                               (type == IPCTNL_MSG_CT_NEW ? "-new" : "-destroy")),
                        one.bytes());
        }
        ++index;
    }
    write_bytes(out / "dump-all", all.bytes());
}

void journal_seeds(const fs::path& source, const fs::path& out) {
    const fs::path dir =
        fs::temp_directory_path() / ("natctl-make-seeds-" + std::to_string(::getpid()));
    const std::vector<std::vector<std::string>> histories = {
        {"quickstart.json"},
        {"quickstart.json", "design.json", "dnat.json"},
        {"multi-eip.json", "snat-granularity.json", "multi-eip.json"},
    };
    int index = 0;
    for (const auto& history : histories) {
        fs::remove_all(dir);
        auto store = natctl::store::Store::open(dir);
        if (!store) {
            std::fprintf(stderr, "make_seeds: %s\n", store.error().c_str());
            std::exit(1);
        }
        for (const auto& name : history)
            (void)(*store)->commit(load(source / "examples" / name), "uid 0", "PUT /v1/config");
        // One-entry DNAT changes, as the API's fast path journals them.
        const auto& current = (*store)->current();
        if (!current.nat_gateways.empty() && !current.nat_gateways[0].dnat_entries.empty()) {
            const auto& entries = current.nat_gateways[0].dnat_entries;
            model::DnatEntry moved = entries[0];
            moved.name += "-2";
            (void)(*store)->commit_change({0, entries.size(), std::nullopt, moved}, "uid 0",
                                          "POST dnat_entries");
            const auto& after = (*store)->current().nat_gateways[0].dnat_entries;
            (void)(*store)->commit_change({0, 0, after[0], std::nullopt}, "uid 0",
                                          "DELETE dnat_entries");
        }
        store->reset();
        fs::copy_file(dir / "journal.log", out / ("journal-" + std::to_string(index++)),
                      fs::copy_options::overwrite_existing);
    }
    fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: make_seeds SOURCE_DIR OUT_DIR\n");
        return 2;
    }
    const fs::path source = argv[1];
    const fs::path out = argv[2];
    for (const char* target : {"store_journal", "netlink_nft", "netlink_conntrack"})
        fs::create_directories(out / target);
    for (const char* example : {"design.json", "multi-eip.json", "quickstart.json"}) {
        std::string stem = example;
        stem.resize(stem.size() - 5);
        nft_seeds(load(source / "examples" / example), stem, out / "netlink_nft");
    }
    conntrack_seeds(out / "netlink_conntrack");
    journal_seeds(source, out / "store_journal");
    return 0;
}
