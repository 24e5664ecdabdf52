from litcifar.cli import main

main()
