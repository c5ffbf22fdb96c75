print("lcd")
