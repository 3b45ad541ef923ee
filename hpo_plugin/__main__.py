from hpo_plugin.fronts.cli import main

if __name__ == "__main__":
    main()
