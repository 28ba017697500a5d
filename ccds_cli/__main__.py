from ccds_cli.cli import main

main()
