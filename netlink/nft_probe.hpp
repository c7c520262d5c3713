// Kernel feature detection. natctl runs on kernels built without some nftables modules
// (nf_flow_table in particular); it finds out once at start-up, says so once, and runs
// without the feature instead of failing half way through an apply.
#pragma once

#include <string>

namespace natctl::netlink {

struct KernelFeatures {
    bool flowtable = false;         // nf_flow_table: fast-path offload of established flows
    std::string flowtable_message;  // one sentence for logs and `natctl status`
};

// Asks the kernel to validate, in the calling thread's network namespace, a batch that
// creates a probe table with a flowtable — without committing it (a batch without END is
// validated and aborted, as `nft -c` does), so nothing is created or changed.
KernelFeatures probe_kernel_features();

}  // namespace natctl::netlink
