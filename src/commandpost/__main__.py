from commandpost.cli.app import main

main()
