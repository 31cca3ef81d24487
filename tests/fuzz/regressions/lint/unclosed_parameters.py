def f(:
  ((( 
