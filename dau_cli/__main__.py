from dau_cli.cli import main

main()
