// Replaced by the sandbox command line (issue 2, part 4).
print("kftray-sandbox: under construction")
