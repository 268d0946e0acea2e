from warcache.cli import main

main()
