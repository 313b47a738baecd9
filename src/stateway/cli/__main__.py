from stateway.cli import main

main()
