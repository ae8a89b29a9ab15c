import Control.Monad (forM_, unless)
import System.Environment (getArgs)
import System.Exit (ExitCode (..), exitWith)
import System.IO (isEOF)

main :: IO ()
main = do
  eof <- isEOF
  name <- if eof then return "" else getLine
  putStrLn ("Hello, " ++ name ++ "!")
  args <- getArgs
  unless (null args) $ do
    forM_ args $ \arg -> putStrLn ("arg: " ++ arg)
    putStrLn "Grüße, 世界 ✓"
    exitWith (ExitFailure 3)
