from dev.functions_host.cli import main

main()
