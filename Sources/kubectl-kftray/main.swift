// Replaced by the command tree (issue 2, part 5).
print("kubectl-kftray: under construction")
