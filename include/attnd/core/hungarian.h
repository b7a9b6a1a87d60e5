// Minimum-cost assignment (the "Hungarian matching" of DETR): given a rows×cols cost matrix, pick
// min(rows, cols) pairs (row, col), no row or column twice, with the least total cost. DETR matches
// its queries (rows) to an image's ground-truth boxes (cols) this way before computing the loss.
// O(n²·m) for n = min(rows, cols), m = max(rows, cols): shortest augmenting paths with potentials
// (Jonker–Volgenant style). Plain doubles, no torch: the loss copies its cost tensor to the CPU.
#pragma once

#include <cstdint>
#include <vector>

namespace attnd {

struct MatchedPair {
  int64_t row = 0;
  int64_t col = 0;
  bool operator==(const MatchedPair& o) const { return row == o.row && col == o.col; }
};

// `cost` is row-major, rows·cols values. Returns min(rows, cols) pairs sorted by row (every row
// when rows ≤ cols, else every column once). +inf marks a forbidden pair; attnd::Error when a cost
// is NaN or −inf, or when the forbidden pairs leave no complete assignment. Among assignments of
// equal cost any one may be returned (deterministically: the same input gives the same pairs).
std::vector<MatchedPair> min_cost_assignment(const double* cost, int64_t rows, int64_t cols);
std::vector<MatchedPair> min_cost_assignment(const std::vector<double>& cost, int64_t rows,
                                             int64_t cols);

// Σ cost[row][col] over `pairs`.
double assignment_cost(const double* cost, int64_t cols, const std::vector<MatchedPair>& pairs);

}  // namespace attnd
