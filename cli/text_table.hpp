// Column-aligned text for people (`-o table`, the default). Scripts use `-o json`.
#pragma once

#include <string>
#include <vector>

namespace natctl::cli {

class TextTable {
  public:
    explicit TextTable(std::vector<std::string> header) : header_(std::move(header)) {}
    // Missing cells print as "-", so that every column stays visible to the eye.
    void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    bool empty() const { return rows_.empty(); }
    // Header and rows, columns padded to their widest cell, two spaces apart, no trailing
    // blanks; every line ends with '\n'.
    std::string render() const;

  private:
    std::vector<std::string> header_;
    std::vector<std::vector<std::string>> rows_;
};

// "key  value" lines with the keys aligned; for single objects (status, explain).
std::string render_pairs(const std::vector<std::pair<std::string, std::string>>& pairs);

}  // namespace natctl::cli
