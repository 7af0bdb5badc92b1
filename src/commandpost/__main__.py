from commandpost.cli.app import main

# Guarded: `serve` spawns its work process, which imports this module again.
if __name__ == "__main__":
    main()
