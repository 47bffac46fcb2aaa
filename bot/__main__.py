from bot.cli import main

if __name__ == "__main__":  # not in a helper process, which imports this module again
    raise SystemExit(main())
